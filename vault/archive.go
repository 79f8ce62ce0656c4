package vault

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"golang.org/x/mod/sumdb/note"

	"pvault/audit"
	"pvault/vault/store"
)

// ArchiveQuery selects the petitions of an archive export.
type ArchiveQuery struct {
	Status   string    // default closed
	From, To time.Time // on received_at; zero means open
}

// ArchiveRecord is the content of one archive member: everything about a
// petition, sealed to the archive recipients.
type ArchiveRecord struct {
	Meta       *Meta         `json:"meta"`
	Content    *Content      `json:"content"`
	Petitioner *Petitioner   `json:"petitioner"`
	Events     []OpenedEvent `json:"events"`
	ExportedAt time.Time     `json:"exported_at"`
}

// ArchiveManifest lists an archive's members.
type ArchiveManifest struct {
	Vault      string          `json:"vault"`
	ExportedAt time.Time       `json:"exported_at"`
	Query      map[string]any  `json:"query"`
	Recipients []string        `json:"recipients"`
	Items      []ArchiveMember `json:"items"`
}

// ArchiveMember is one file of an archive.
type ArchiveMember struct {
	ID     string `json:"id"`
	File   string `json:"file"`
	SHA256 string `json:"sha256"`
}

// ArchiveRecipients are the default archive recipients: the recovery ones.
func (v *Vault) ArchiveRecipients() []string { return v.keyset.Load().recovery }

// Archive writes a tar with one standard age file per selected petition
// (<id>.age: content, identity and events, sealed to recipients), then
// manifest.json (ids and SHA-256 of each member) and manifest.json.sig, a
// signed note over the manifest's SHA-256 that opens with the audit
// verifier key. The caller never sees plaintext. It returns the manifest.
func (v *Vault) Archive(w io.Writer, q ArchiveQuery, recipients []string) (*ArchiveManifest, error) {
	if q.Status == "" {
		q.Status = StatusClosed
	}
	recips, err := ParseRecipients(recipients)
	if err != nil || len(recips) == 0 {
		return nil, invalid("recipient", "at least one age X25519 recipient is needed (none given and no recovery recipients configured)")
	}
	var ids []string
	err = v.st.View(func(r store.Reader) error {
		prefix := []byte("x/s/" + q.Status + "\x00")
		return r.Scan(store.ScanOptions{Prefix: prefix, KeysOnly: true}, func(k, _ []byte) error {
			ids = append(ids, string(k[len(prefix):]))
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	now := v.Now()
	man := &ArchiveManifest{Vault: v.ring.Name, ExportedAt: now, Recipients: recipients, Items: []ArchiveMember{},
		Query: map[string]any{"status": q.Status, "from": q.From, "to": q.To}}
	tw := tar.NewWriter(w)
	put := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(data)), ModTime: now.Truncate(time.Second), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, id := range ids {
		m, err := v.Meta(id)
		if err != nil {
			continue
		}
		if (!q.From.IsZero() && m.ReceivedAt.Before(q.From)) || (!q.To.IsZero() && !m.ReceivedAt.Before(q.To)) {
			continue
		}
		rec := ArchiveRecord{Meta: m, ExportedAt: now}
		if rec.Content, err = v.OpenContent(id); err != nil {
			return nil, fmt.Errorf("archive %s: %w", id, err)
		}
		if rec.Petitioner, err = v.OpenIdentity(m); err != nil {
			return nil, fmt.Errorf("archive %s: %w", id, err)
		}
		if rec.Events, err = v.Events(id); err != nil {
			return nil, fmt.Errorf("archive %s: %w", id, err)
		}
		sealed, err := sealBytes(padJSON(mustJSON(rec)), recips) // padded as the vault's own records
		if err != nil {
			return nil, err
		}
		name := id + ".age"
		if err := put(name, sealed); err != nil {
			return nil, err
		}
		sum := sha256.Sum256(sealed)
		man.Items = append(man.Items, ArchiveMember{ID: id, File: name, SHA256: hex.EncodeToString(sum[:])})
	}
	mb, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := put("manifest.json", mb); err != nil {
		return nil, err
	}
	sig, err := v.signManifest(mb)
	if err != nil {
		return nil, err
	}
	if err := put("manifest.json.sig", sig); err != nil {
		return nil, err
	}
	return man, tw.Close()
}

// signManifest signs "pvault archive manifest\n<sha256 hex>\n" as a signed
// note with the audit checkpoint key: anyone with the verifier key
// (GET /audit/verifier-key) can check it with golang.org/x/mod/sumdb/note.
func (v *Vault) signManifest(manifest []byte) ([]byte, error) {
	signer, _, err := audit.NewSigner(v.ring.Name+"/audit", v.signingKey)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(manifest)
	return note.Sign(&note.Note{Text: "pvault archive manifest\n" + hex.EncodeToString(sum[:]) + "\n"}, signer)
}
