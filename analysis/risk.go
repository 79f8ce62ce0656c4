package analysis

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Risk levels.
const (
	Low      = "low"
	Medium   = "medium"
	High     = "high"
	Critical = "critical"
)

// Risk is a petition's risk assessment with readable reasons.
type Risk struct {
	Level   string   `json:"level"`
	Score   int      `json:"score"`
	Reasons []string `json:"reasons"`
}

// RiskInput is what the risk scorer looks at.
type RiskInput struct {
	Text      string
	GroupSize int
	// Repeats is how many earlier petitions are linked to this one (same
	// matter or same petitioner); Unresolved how many of them are not closed.
	Repeats    int
	Unresolved int
}

var (
	// Threats of self-harm.
	selfHarmRE = regexp.MustCompile(`跳楼|跳河|跳江|跳桥|跳下去|跳下来|往下跳|楼顶下去|从.{0,8}(楼|塔吊|桥|顶|上)(上)?(跳|下去)|自杀|自尽|轻生|寻死|自焚|点火烧(了)?自己|烧死自己|喝(了)?(农药|敌敌畏|百草枯|药)|吃(了)?安眠药|割腕|上吊|吊死|撞死|不想活|活不下去了|死给(你们|他们)看|以死|一死了之|死在(你们|项目部|公司|这)|把命(搭|豁|拼)|拿命|同归于尽`)
	// Threats of violence.
	violenceRE = regexp.MustCompile(`同归于尽|拿刀|带刀|动刀|砍(死|了|人|他)|捅(死|了|他)|杀(了|人|他|死)|弄死|搞死|炸(了|掉|毁|药)|放火|烧了(你们|他|公司|项目部|工地)|纵火|报复(社会|他|他们)|血债|拼(了|命)|见血|打死`)
	// Mass action (imminent when a time is near).
	massRE = regexp.MustCompile(`堵(路|国道|高速|公路|大门|门|住|厂门)|围堵|封路|拦(路|车)|拉(横幅|条幅)|打(横幅|条幅)|举牌|集体(上访|去|到|来)|一起(去|到)(集团|公司|政府|省|市|北京)|组织(大家|工友|工人|人|村民|业主|职工)|聚集|静坐|游行|罢工|停工抗议|冲(击|进)|围攻|上街`)
	timeRE = regexp.MustCompile(`明天|后天|今天|今晚|今早|明早|明晚|下周|下星期|本周|这周|周[一二三四五六日末]|星期[一二三四五六日天]|礼拜[一二三四五六天]|[0-9一二三四五六七八九十]+月[0-9一二三四五六七八九十]+[日号]|[0-9]+[日号]|月底|这几天|马上|立刻|立即|春节前|节前|年前|下个月|近期|过几天`)
	// Escalation to higher authorities, and to the media.
	authorityRE = regexp.MustCompile(`北京|中央|国务院|国家信访局|省里|省政府|省委|省信访|巡视组|督察组|纪委|监委|国资委|市长热线|市委|越级|上级部门|更高一级|上一级`)
	mediaRE     = regexp.MustCompile(`记者|媒体|曝光|抖音|快手|微博|头条|上网|发到网上|网上发|电视台|报社|自媒体|朋友圈|热搜|直播`)
	// Repeated, unresolved petitions.
	repeatRE = regexp.MustCompile(`第[二三四五六七八九十0-9]+次|多次(反映|来访|投诉|找|上访|信访)|反复(反映|找)|一直(没|不|未)|至今(未|没|仍)|始终(没|未)|再次(反映|来访|投诉)|又一次|屡次|几次三番|跑了[0-9一二三四五六七八九十几]+趟`)
	// Strong emotion or urgency.
	emotionRE = regexp.MustCompile(`气愤|愤怒|忍无可忍|走投无路|欺人太甚|没有活路|逼(上绝路|死)|实在没办法|求求|救救|绝望|崩溃|急需|急用|看病|住院|孩子(上学|学费)|过年回家|春节回家|讨薪|血汗钱|没饭吃|揭不开锅`)
	// Phrases that use trigger words harmlessly.
	benignRE = regexp.MustCompile(`跳楼价|跳楼甩卖|跳楼大甩卖|防止.{0,10}(跳|坠)|安全网|防坠|刀具|刀片|切割机|农药厂|农药残留|农药污染|消防通道被堵|堵塞|下水道堵|管道堵|堵车|拉横幅庆祝|庆祝.{0,6}横幅|集体户口|集体宿舍|集体合同|集体经济|集体土地|媒体报道过.{0,10}(成绩|先进)|爆炸(物品|品)管理|炸药库管理`)
	// Negations and reports of the past that defuse a trigger after them.
	negationRE = regexp.MustCompile(`(不会|绝不|决不|不要|不打算|不准备|没有(要|想)?|不至于|并不|不是要|不去|不敢|从没|从未|没想过)[^。！？!?；;]{0,6}$`)
	pastRE     = regexp.MustCompile(`(以前|曾经|之前|去年|上次|过去|当年|那时)(有人|有个|有位|有工友|别人)?[^。！？!?；;]{0,12}$`)

	peopleRE = regexp.MustCompile(`([0-9]+|[一二两三四五六七八九十百]+)(多|余|来)?(个|名|位)?(人|工人|农民工|工友|职工|户|家|员工|名工人)`)
)

// triggers finds the non-defused matches of re in text: not inside a benign
// phrase and not right after a negation or a report of the past.
func triggers(re *regexp.Regexp, text string, benign [][]int) []string {
	var out []string
	for _, loc := range re.FindAllStringIndex(text, -1) {
		inBenign := false
		for _, b := range benign {
			if loc[0] < b[1] && b[0] < loc[1] {
				inBenign = true
				break
			}
		}
		if inBenign {
			continue
		}
		before := text[max(0, loc[0]-60):loc[0]]
		if negationRE.MatchString(before) || pastRE.MatchString(before) {
			continue
		}
		out = append(out, text[loc[0]:loc[1]])
	}
	return out
}

// ScoreRisk assesses a petition. Levels: critical (threats of self-harm or
// violence, imminent mass action), high (a group of five or more,
// escalation to higher authorities or the media, repeated unresolved
// petitions), medium (strong emotion or urgency, mass action without a
// time, a repeat), low.
func ScoreRisk(in RiskInput) Risk {
	text := strings.Join(strings.Fields(in.Text), "")
	benign := benignRE.FindAllStringIndex(text, -1)
	var reasons []string
	score := 0
	level := Low
	raise := func(l string) {
		if rank(l) > rank(level) {
			level = l
		}
	}
	if t := triggers(selfHarmRE, text, benign); len(t) > 0 {
		score += 60
		raise(Critical)
		reasons = append(reasons, "threat of self-harm: "+t[0])
	}
	if t := triggers(violenceRE, text, benign); len(t) > 0 {
		score += 55
		raise(Critical)
		reasons = append(reasons, "threat of violence: "+t[0])
	}
	if t := triggers(massRE, text, benign); len(t) > 0 {
		if when := timeNear(text, t); when != "" {
			score += 50
			raise(Critical)
			reasons = append(reasons, fmt.Sprintf("imminent mass action: %s (%s)", t[0], when))
		} else {
			score += 25
			raise(High)
			reasons = append(reasons, "mass action mentioned: "+t[0])
		}
	}
	group := max(in.GroupSize, peopleInText(text))
	if group >= 5 {
		score += 15 + min(group/5, 10)
		raise(High)
		reasons = append(reasons, fmt.Sprintf("group of %d", group))
	}
	if t := triggers(authorityRE, text, benign); len(t) > 0 {
		score += 20
		raise(High)
		reasons = append(reasons, "escalation to higher authorities: "+t[0])
	}
	if t := triggers(mediaRE, text, benign); len(t) > 0 {
		score += 20
		raise(High)
		reasons = append(reasons, "threatens media exposure: "+t[0])
	}
	textRepeat := triggers(repeatRE, text, benign)
	switch {
	case in.Repeats > 0:
		score += 10 + min(in.Repeats, 5)*5
		if in.Unresolved > 0 || len(textRepeat) > 0 {
			raise(High)
		} else {
			raise(Medium)
		}
		reasons = append(reasons, fmt.Sprintf("%s petition on the same matter", ordinal(in.Repeats+1)))
	case len(textRepeat) > 0:
		score += 15
		raise(High)
		reasons = append(reasons, "repeated unresolved petition: "+textRepeat[0])
	}
	if t := triggers(emotionRE, text, benign); len(t) > 0 {
		score += 10
		raise(Medium)
		reasons = append(reasons, "distress or urgency: "+t[0])
	}
	if reasons == nil {
		reasons = []string{}
	}
	return Risk{Level: level, Score: min(score, 100), Reasons: reasons}
}

func rank(l string) int {
	switch l {
	case Medium:
		return 1
	case High:
		return 2
	case Critical:
		return 3
	}
	return 0
}

// timeNear returns a time expression within 20 characters of a mass-action
// trigger, or "".
func timeNear(text string, trig []string) string {
	for _, t := range trig {
		i := strings.Index(text, t)
		if i < 0 {
			continue
		}
		lo, hi := max(0, i-60), min(len(text), i+len(t)+60)
		for lo > 0 && !utf8Start(text[lo]) {
			lo--
		}
		for hi < len(text) && !utf8Start(text[hi]) {
			hi++
		}
		if m := timeRE.FindString(text[lo:hi]); m != "" {
			return m
		}
	}
	return ""
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// peopleInText finds the largest head count the text states ("12个人",
// "三十多名工人").
func peopleInText(text string) int {
	best := 0
	for _, m := range peopleRE.FindAllStringSubmatch(text, -1) {
		n := parseCount(m[1])
		if n > best && n < 100000 {
			best = n
		}
	}
	return best
}

func parseCount(s string) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	digits := map[rune]int{'一': 1, '二': 2, '两': 2, '三': 3, '四': 4, '五': 5, '六': 6, '七': 7, '八': 8, '九': 9}
	total, cur := 0, 0
	for _, r := range s {
		switch r {
		case '十':
			if cur == 0 {
				cur = 1
			}
			total += cur * 10
			cur = 0
		case '百':
			if cur == 0 {
				cur = 1
			}
			total += cur * 100
			cur = 0
		default:
			cur = digits[r]
		}
	}
	return total + cur
}

func ordinal(n int) string {
	switch {
	case n%100 >= 11 && n%100 <= 13:
		return fmt.Sprintf("%dth", n)
	case n%10 == 1:
		return fmt.Sprintf("%dst", n)
	case n%10 == 2:
		return fmt.Sprintf("%dnd", n)
	case n%10 == 3:
		return fmt.Sprintf("%drd", n)
	}
	return fmt.Sprintf("%dth", n)
}
