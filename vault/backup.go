package vault

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"filippo.io/age"

	"pvault/vault/store"
)

// A backup is one standard age file, sealed to the vault recipient and every
// recovery recipient, holding a stream of members:
//
//	"pvault-backup-1\n"
//	for each member: a JSON line {"name":"…"} then chunks of
//	  4-byte big-endian length + bytes, ended by a zero length.
//
// Members: manifest.json, keyring.age, audit.checkpoint (when the log has
// one), analysis.model.age (when retrained), vault.key.age (only when the
// identity is passphrase-protected), and store.badger (badger's backup of a
// consistent snapshot). The plain vault identity is never included:
// restoring needs it, or a recovery identity, from elsewhere.

const backupMagic = "pvault-backup-1\n"

// BackupInfo describes a backup.
type BackupInfo struct {
	Vault     string    `json:"vault"`
	CreatedAt time.Time `json:"created_at"`
	LogSize   int64     `json:"log_size"` // audit entries at the start of the backup (at least)
	Version   uint64    `json:"store_version"`
}

type memberWriter struct {
	w   io.Writer
	buf []byte
}

func (m *memberWriter) begin(name string) error {
	b, _ := json.Marshal(map[string]string{"name": name})
	_, err := m.w.Write(append(b, '\n'))
	return err
}

func (m *memberWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		c := min(len(p), 1<<20)
		var hdr [4]byte
		binary.BigEndian.PutUint32(hdr[:], uint32(c))
		if _, err := m.w.Write(hdr[:]); err != nil {
			return n, err
		}
		if _, err := m.w.Write(p[:c]); err != nil {
			return n, err
		}
		n += c
		p = p[c:]
	}
	return n, nil
}

func (m *memberWriter) end() error {
	_, err := m.w.Write([]byte{0, 0, 0, 0})
	return err
}

func (m *memberWriter) file(name string, data []byte) error {
	if err := m.begin(name); err != nil {
		return err
	}
	if _, err := m.Write(data); err != nil {
		return err
	}
	return m.end()
}

// Backup writes an online, consistent backup of the vault to w while it
// keeps serving. It returns an error wrapping ErrInvalid if the store cannot
// be backed up online.
func (v *Vault) Backup(w io.Writer) (*BackupInfo, error) {
	bs, ok := v.st.(authWatch).Store.(store.Backuper)
	if !ok {
		return nil, invalid("store", "this store cannot be backed up online")
	}
	// Sealed to the vault's X25519 recipient (not the online symmetric
	// stanza) and the recovery recipients: a backup opens with vault.key or
	// a recovery identity, with pvault or the stock age command.
	ks := v.keyset.Load()
	recips, err := ParseRecipients(ks.recovery)
	if err != nil {
		return nil, err
	}
	aw, err := age.Encrypt(w, append([]age.Recipient{ks.current.Recipient()}, recips...)...)
	if err != nil {
		return nil, err
	}
	bw := bufio.NewWriterSize(aw, 1<<16)
	mw := &memberWriter{w: bw}
	info := &BackupInfo{Vault: v.ring.Name, CreatedAt: v.Now(), LogSize: v.log.Head().Size}
	if _, err := bw.WriteString(backupMagic); err != nil {
		return nil, err
	}
	// Files first: the checkpoint read now is covered by the snapshot
	// taken after it.
	files := []string{KeyringFile, CheckpointFile, ModelFile}
	if _, err := os.Stat(filepath.Join(v.dir, SealedIdentityFile)); err == nil {
		files = append(files, SealedIdentityFile)
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(v.dir, f))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := mw.file(f, b); err != nil {
			return nil, err
		}
	}
	if err := mw.begin("store.badger"); err != nil {
		return nil, err
	}
	if info.Version, err = bs.Backup(mw); err != nil {
		return nil, fmt.Errorf("backup store: %w", err)
	}
	if err := mw.end(); err != nil {
		return nil, err
	}
	man, _ := json.Marshal(info)
	if err := mw.file("manifest.json", man); err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	return info, aw.Close()
}

// memberReader reads one member's chunks.
type memberReader struct {
	r    *bufio.Reader
	left uint32
	done bool
}

func (m *memberReader) Read(p []byte) (int, error) {
	if m.done {
		return 0, io.EOF
	}
	if m.left == 0 {
		var hdr [4]byte
		if _, err := io.ReadFull(m.r, hdr[:]); err != nil {
			return 0, fmt.Errorf("backup truncated: %w", err)
		}
		m.left = binary.BigEndian.Uint32(hdr[:])
		if m.left == 0 {
			m.done = true
			return 0, io.EOF
		}
	}
	if uint32(len(p)) > m.left {
		p = p[:m.left]
	}
	n, err := m.r.Read(p)
	m.left -= uint32(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// ErrBadBackup is returned for a file that is not a pvault backup or that
// the given identity cannot open.
var ErrBadBackup = errors.New("vault: not a backup this identity can open")

// Restore creates a vault in dir (missing or empty) from a backup. identity
// is an age identity file's contents: the vault's own (vault.key) or a
// recovery identity; it becomes the restored vault's identity unless the
// backup carries the passphrase-protected one. It returns the backup's
// description.
func Restore(dir string, backup io.Reader, identityText string) (*BackupInfo, error) {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrExists, dir)
	}
	ids, err := age.ParseIdentities(bytesReader(identityText))
	if err != nil || len(ids) == 0 {
		return nil, fmt.Errorf("restore: the identity file holds no age identity")
	}
	for _, id := range ids {
		if x, ok := id.(*age.X25519Identity); ok {
			ids = append(ids, symIdentity{newSymKey(x)})
		}
	}
	ar, err := age.Decrypt(backup, ids...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadBackup, err)
	}
	br := bufio.NewReaderSize(ar, 1<<16)
	magic := make([]byte, len(backupMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != backupMagic {
		return nil, ErrBadBackup
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var info BackupInfo
	var ring *Keyring
	sawStore := false
	for {
		line, err := br.ReadBytes('\n')
		if err == io.EOF && len(line) == 0 {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: member header: %w", ErrBadBackup, err)
		}
		var hdr struct{ Name string }
		if json.Unmarshal(line, &hdr) != nil {
			return nil, fmt.Errorf("%w: member header", ErrBadBackup)
		}
		mr := &memberReader{r: br}
		switch hdr.Name {
		case "store.badger":
			if ring == nil {
				return nil, fmt.Errorf("%w: the keyring comes before the store", ErrBadBackup)
			}
			if err := store.RestoreBadger(filepath.Join(dir, StoreDir), ring.StorageKey, mr); err != nil {
				return nil, err
			}
			sawStore = true
		case KeyringFile, CheckpointFile, ModelFile, SealedIdentityFile, "manifest.json":
			b, err := io.ReadAll(io.LimitReader(mr, 64<<20))
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %w", ErrBadBackup, hdr.Name, err)
			}
			if hdr.Name == "manifest.json" {
				if err := json.Unmarshal(b, &info); err != nil {
					return nil, fmt.Errorf("%w: manifest", ErrBadBackup)
				}
				continue
			}
			if hdr.Name == KeyringFile {
				if ring, err = openKeyring(b, ids...); err != nil {
					return nil, fmt.Errorf("restore: the identity does not open the backup's keyring: %w", err)
				}
			}
			if err := writeFileSync(filepath.Join(dir, hdr.Name), b, 0o600); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("%w: unknown member", ErrBadBackup)
		}
		// Drain what the member did not read.
		if _, err := io.Copy(io.Discard, mr); err != nil {
			return nil, err
		}
	}
	if !sawStore || ring == nil {
		return nil, fmt.Errorf("%w: incomplete", ErrBadBackup)
	}
	if _, err := os.Stat(filepath.Join(dir, SealedIdentityFile)); errors.Is(err, os.ErrNotExist) {
		if err := writeFileSync(filepath.Join(dir, IdentityFile), []byte(identityText), 0o600); err != nil {
			return nil, err
		}
	}
	return &info, nil
}
