package analysis

import (
	"fmt"
	"math"
	"regexp"
	"regexp/syntax"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
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
	// Features, if given, are Text's features computed for the category
	// model: the risk model uses them when it shares that feature space
	// and the whole text is to be read.
	Features *Features
}

var (
	// Threats of self-harm.
	selfHarmRE = regexp.MustCompile(`跳楼|跳河|跳江|跳桥|跳湖|跳海|跳下去|跳下来|往下跳|一跳|楼顶(下去|跳)|上(楼顶|天台|塔吊|塔吊顶|高架|桥)(去|上去)?.{0,12}(不(会)?(再)?下来|跳|下去)|(就|要|扬言|准备|打算|威胁)(从|到|上).{0,10}(楼|塔吊|桥|顶|架)(上)?.{0,3}(跳|下去)|自杀|自尽|轻生|寻死|寻短见|了结自己|结束(自己|生命)|自焚|点(火|把火)烧(了)?自己|烧死自己|浇汽油|泼汽油|汽油.{0,6}(身上|自己)|开煤气|喝(了)?(农药|敌敌畏|百草枯|药|老鼠药)|吞药|割腕|割脉|上吊|吊死|撞死|卧轨|躺(到|在).{0,6}(车|轮)(下|底|前)|不想活|活不下去了|活着没意思|死给(你们|他们|你)看|以死|一死了之|死在(你们|项目部|公司|集团|这|那)|把命(搭|豁|拼)|拿命|遗书|交代(好)?后事|同归于尽|最后一次(找|来|反映)|绝食|撞墙|投河|跳井|不活了|死了算了|活够了|以死(明志|相逼|抗争)|(爬|登)(到|上)?[^，。！？,!?]{0,8}(塔吊|楼顶|天台|烟囱|铁塔|高压线塔|广告牌)[^。！？!?]{0,16}(不下来|跳|下不来)|(就|要|明天|今天|今晚)[^，。！？,!?]{0,4}爬(到|上)?[^，。！？,!?]{0,8}(塔吊|楼顶|天台|烟囱|铁塔|高压线塔)|从我(身上|身体上)?(碾|压|轧)(过去)?|(碾|压|轧)死我|(一起|一块儿?)死|同死|共存亡|永别|诀别|下辈子|来世再|遗言|不吃不喝|(今晚|今天|明天|这就|我就|就)(去|到)(江|河|湖|海|水库)边|(这几年|这些年|这辈子)[^，。！？,!?]{0,4}谢谢|没脸(再)?活|不在(此|这个)?人间|无颜(苟存|苟活|再活|活下去)|这是(我的)?最后(一|1)(条|封|句)|(不想|不愿|不能|不要|别|省得|免得)(再)?(继续)?拖累|(就|要|都)[^，。！？,!?]{0,4}(一起|一块儿?)?上(塔吊|楼顶|天台|烟囱|铁塔)|(打|吃|喝)(多少|多了)[^。！？!?]{0,12}(出事|就没了|睡过去|醒不过来|不醒|会死|没命)|(致死|致命)(剂量|的量)|问[^。！？!?]{0,16}((几|多少)(楼|层|米)|多高|(楼|层)[^。！？!?]{0,4}下去)|(楼顶|天台|屋顶|桥上|桥边)[^。！？!?]{0,10}坐在(边上|边缘|栏杆)|一口(饭|水)(都|也)?不(吃|喝)|水米不进|删(掉|了|光)?[^，。！？,!?]{0,8}照片|照片[^，。！？,!?]{0,6}(一张张|全|都)?删|(东西|被子|饭盒|衣服|积蓄|存款|钱|羊|牛)[^，。！？,!?]{0,6}(都|全)?(送给|塞给|分给|留给)了|你(要)?好好过日子|替我照顾(好)?|以后(屋里|家里|房子里)的东西|以后就不(再)?麻烦(你们|大家)了|照相馆|遗照|滴水不进|(站|坐|爬|翻|蹲)(在|到|出|过)?[^，。！？,!?]{0,6}(栏杆|护栏|围栏|女儿墙|窗台)(外|上)`)
	// Threats of violence.
	violenceRE = regexp.MustCompile(`同归于尽|(拿|带|备|磨|揣|拎|掏|举|亮)(好|了|着|出)?(的)?(菜|砍|尖|杀猪|水果)?刀|砍(死|了|人|他|伤)|捅(死|了|他|人)|杀(了|人|他|死|掉)|弄死|搞死|整死|打死|(把|给).{0,8}炸(了|掉|毁|平)|炸(了|平|掉)(你们|他|公司|项目部|办公室|板房|大楼)|放(一把)?火|点火|烧(了|掉|光)(你们|他|他们|公司|项目部|工地|办公室|板房|房子)|纵火|报复(他|他们|你们|经理|老板|领导|社会)|血债|拼(了|命)|见血|(拿|抄|拎|带|举|抡)(起|着|上|了)?(钢管|铁锹|镐把|棍棒|木棍|砖头|扳手|锤子).{0,8}(找|打|砸|去|冲|要|堵|跟)|镐把|讨个说法.{0,4}(不惜|拼)|以命抵命|一命换一命|要(他|你们)好看|收拾(他|你们|那个)|打砸|血溅|泼硫酸|烧(了|掉)?(他的|他们的|公司的|项目部的)?(车|房子|板房)|砸(了|烂)(办公室|项目部|工地|大门)|(把|将)(他|她|你|你们|那个|姓)[^，。！？,!?]{0,10}(推下去|推下来|扔下去|撞死|打残)|打(断|折)[^，。！？,!?]{0,4}(腿|手|胳膊|骨头)|打(瘸|残|废)(他|你|了)|一把火(把|烧|点)|(把|将)[^，。！？,!?]{0,10}(办公楼|楼|房子|车|项目部|公司|板房|工地|办公室|家|厂房|仓库|大楼)(给)?(点了|烧了|炸了)|后果自负|不管后果|不计后果|别怪我|付出代价|走着瞧|饶不了|鱼死网破|吃不了兜着走|动起手来|动刀子|带(上|着)?(几个|一帮|一群|一伙|些)(兄弟|弟兄|人)|连人带[^，。！？,!?]{0,4}(一起|做伙|一块)?(推|拆|压|埋)|(望|请)(贵司|你们|贵公司|各位|领导)?三思|(家|住)(住)?(在)?哪(栋|个小区|里|儿)[^。！？!?]{0,8}(知道|清楚|打听|摸清)|打听[^。！？!?]{0,16}(几点下班|住哪|住在哪|开什么车|停在哪|从哪个门)|刹车(好不好|灵不灵)|(出门|走夜路)[^，。！？,!?]{0,8}(小心|当心)|(出门|路上)[^，。！？,!?]{0,8}(遇上|碰上)[^，。！？,!?]{0,4}什么事|(用|按)我(自己)?的方式(解决|处理)|你们会知道(我的答案|后果)|别想(完完整整|好好|站着)(地)?(走|出)|(总闸|配电房|配电箱|电闸|阀门)[^。！？!?]{0,12}(在哪|哪一个|怎么走)[^。！？!?]{0,16}(知道|清楚)|教(教|训)?(他们|他|你们)(规矩|做人)|(拿|拎|提|揣)着?(一根|一把)?(铁棍|棍子|斧头|砍刀|铁锤)|管不住(他们|工人|手下|兄弟)|管不了(他们|工人)|让(他|她|你|你们|他们)(自己)?也?(尝尝|体会体会|体会一下|试试)`)
	// Means of harm that are threats only when someone says they will use
	// them: "称汽油已放车后备箱", "农药已经买好了".
	meansRE = regexp.MustCompile(`汽油|柴油|煤气罐|液化气罐|炸药|雷管|硫酸|农药|敌敌畏|百草枯|老鼠药|安眠药|烧炭|菜刀|砍刀|刀子|尖刀`)
	cueRE   = regexp.MustCompile(`扬言|威胁|声称|说要|要(把|拿|用|带|去|喝|吃)|准备|打算|买好|备好|买了|带着|带了|带上|拿出|携|装了|灌了|搬(到|去|来|了|进)|拎|扛|揣|泼|浇|就(把|拿|用|喝|吃)|再不|不给(就|我)|大不了|宁可|一起(死|走)`)
	// Mass action; it is imminent when a time or a place is named near it.
	disruptRE = regexp.MustCompile(`堵.{0,6}(路|国道|省道|高速|公路|大门|门口|门|厂门|桥|道口|进场道)|(把|给)[^，。！？,!?]{0,12}(封了|封住|堵了|堵住|围了|围住)|围堵|拦(路|车)|(要|去|就|准备|打算|扬言)[^，。！？,!?]{0,6}挖断.{0,6}(路|道)|拉(横幅|条幅)|打(横幅|条幅)|举(牌|标语)|抬(棺|尸|遗体)|摆(花圈|灵堂)|静坐|游行|罢工|停工抗议|集会|不给(个)?(答复|说法|结果|解决)(就|我们)?(不|绝不|决不)(离开|走|回去|撤)|集体停工|全体(工友|工人|职工)?停工|停工(集会|讨薪|维权)|冲(击|进)|围攻|上街`)
	// Collective petitions: imminent only when a time is named.
	massRE = regexp.MustCompile(`集体(上访|去|到|来|讨|找|前往|反映|请愿)|一起(去|到)(集团|公司|政府|省|市|北京|项目部)|组织(大家|工友|工人|人|村民|业主|职工|家属)|集合|聚集|(包|租)(了)?(大巴|车)(去|到)|步行去`)
	timeRE = regexp.MustCompile(`明天|后天|今天|今晚|今早|明早|明晚|次日|当天|下周|下星期|本周|这周|周[一二三四五六日末]|星期[一二三四五六日天]|礼拜[一二三四五六天]|[0-9一二三四五六七八九十]+月[0-9一二三四五六七八九十]+[日号]|[0-9一二三]?[0-9一二三四五六七八九十][日号](早|晚|上午|下午|中午|一早|当天)|[早晚上下中]午?[0-9一二三四五六七八九十]+点|(下个?|本|这个?)月[0-9一二三四五六七八九十]+[日号]|月底|春节前|节前|年前|过几天|五一|国庆|元旦|春节|端午|中秋|清明|两会`)
	// Plans and agreements that make mass action imminent: "约好了",
	// "定于", "横幅都印好了", "居民拟围堵".
	planRE = regexp.MustCompile(`准备|打算|计划|定于|决定|约好|商量好|说好了|已经(联系|组织|通知|约)|印好|做好了|到时候|届时|马上就|即将|将于|拟`)
	// Destinations that make a collective petition an escalation.
	farRE   = regexp.MustCompile(`北京|中央|国务院|省里|省城|省政府|省委|省信访|省会`)
	placeRE = regexp.MustCompile(`(集团|公司|项目部|工地|厂|政府|信访局|大楼)(大)?门口|广场|国道|省道|高速|环城路|进场(道)?路|市政府|省政府|省委|市委`)
	// Escalation to higher authorities, and to the media.
	authorityRE = regexp.MustCompile(`(将|就|会|要|只能|只好)(向|到|去)[^，。！？,!?]{0,8}(住建|安监|应急管理|审计署|审计局|劳动监察|市场监管|生态环境|环保局|公安|检察院)[^，。！？,!?]{0,8}(举报|反映|投诉|报案|控告)|(去|到|进|上|跑|告到)北京|北京(上访|信访)|进京|中央|国务院|国家信访局|省里|省政府|省委|省信访|巡视组|督察组|(再不|否则|不然|要不|就|只能|只好|告到|捅到|闹到|越级)[^，。！？,!?]{0,8}(纪委|监委|国资委)|(去|到|找|向|给)[^，。！？,!?]{0,6}(国务院|省|市)?国资委|(寄|发|交|递|送|举报到|反映到|写信到|写给|投到|发给)[^，。！？,!?]{0,4}(省|市|中央|国家|上级)(纪委|监委|国资委)|市长热线|市委|越级|上级部门|更高一级|上一级|12345`)
	mediaRE     = regexp.MustCompile(`记者|媒体|曝光|抖音|快手|微博|头条|上网|发到网上|网上发|发(个|条|段)?视频|视频发(到|上)|发网上|(挂|发|曝)(到|在)网上|挂出来|脉脉|小红书|论坛|发(到|在|上)[^，。！？,!?]{0,6}(公众号|贴吧|群里)|b站|B站|贴吧|传媒|消委会|消费者委员会|电视台|报社|自媒体|朋友圈|热搜|直播`)
	// Repeated, unresolved petitions.
	repeatRE = regexp.MustCompile(`第[二三四五六七八九十0-9]+(次|回|封信)|[两二三四几多]度(书面|发函)?(追讨|催讨|催要|催款|催告|催促|致函|函告|发函)|多次(反映|来访|投诉|找|上访|信访|来电)|反复(反映|找)|(一直|至今|始终|仍然|还是)(都)?(没|未|不)(有)?(人)?(解决|答复|回复|处理|落实|兑现|结果|下文|回音|消息|理|管|给(个)?说法)|再次(反映|来访|投诉)|(去年|前年|上次|上回|之前|以前|早就|早在|上个月|年初|几年前|多年前)(就|也|都)?(已经)?(反映|投诉|来访|来电|写信|提)过|又一次|屡次|几次三番|跑了[0-9一二三四五六七八九十几]+趟|[0-9一二三四五六七八九十几]+次(反映|来访|投诉|上访)`)
	// Strong emotion or urgency.
	emotionRE = regexp.MustCompile(`气愤|愤怒|忍无可忍|走投无路|欺人太甚|没有活路|逼(上绝路|死)|实在没办法|求求|救救|绝望|崩溃|急需|急用|看病|住院|孩子(上学|学费)|过年回家|春节回家|讨薪|血汗钱|没饭吃|揭不开锅|情绪激动`)
	// Phrases that use trigger words harmlessly.
	benignRE = regexp.MustCompile(`(围挡|围墙|施工|材料|渣土车?|车辆|货车|土方|脚手架|钢筋)[^，。！？,!?]{0,4}堵|组织[^，。！？,!?]{0,6}(参与|参加|验收|看房|座谈|学习|培训|体检|开会)|(气|吵|急|烦|愁|累)得(我)?[^，。！？,!?]{0,3}想撞墙|上网课|网课|上网查|网上(查|办|申请|预约|缴|填|报名|提交|公示)|拼命(地)?(干|工作|加班|赶|抢|学|挣|跑|练|爬|往|逃|游|喊|挤|拉)|静坐(冥想|课|班|练习)|冥想|吊死人|跳下来了|跳了下来|跳车逃生|组织(人员|专人|力量)|第[二三四五六七八九十0-9]+次(续签|续订|签|订立|改制|重组|合同|固定期限|劳动合同|体检|培训|考试|考核|评审|报名|开会|会议)|跳楼价|跳楼甩卖|跳楼大甩卖|防止.{0,10}(跳|坠)|安全网|防坠|刀具|刀片|刀闸|切割机|剪刀|农药厂|农药残留|农药污染|农药味|农药瓶回收|消防通道被堵|堵塞|下水道堵|管道堵|堵车|堵漏|拉横幅庆祝|庆祝.{0,6}横幅|集体户口|集体宿舍|集体合同|集体经济|集体土地|集体企业|厂办大集体|集体所有制|媒体报道过.{0,10}(成绩|先进)|爆炸(物品|品)管理|炸药库|炸药(临时)?(存放|管理|仓库|运输)|爆破|放炮|跳闸|点火(仪式|装置)|中央空调|打击报复|报复性|汽油(价|费|补贴|发票)|集合(资金|时间表)|煤气罐(检测|检查|存放|安全)|烧炭取暖|拿命(换|在|去|拼钱)|(柴油|汽油)(发电机|机|车|费|价|桶|罐车)|演练[^。！？]{0,20}(放火|点火|点了)`)
	// Negations and reports of others' past deeds that defuse a trigger after them.
	negationRE = regexp.MustCompile(`(不会|绝不|决不|不要|不打算|不准备|没有(要|想)?|不至于|并不|不是要|不去|不敢|从没|从未|没想过|不想|不学|避免|防止|以免|禁止|严禁)[^。！？!?；;，,]{0,12}$`)
	pastRE     = regexp.MustCompile(`(小说|电影|电视剧|剧情|情节|故事里|书里|戏里|剧本)[^。！？!?；;]{0,40}$|(气话|一时冲动|一时着急)[^。！？!?；;]{0,16}$|(以前|曾经|之前|去年|前年|过去|当年|那时|前些年|上个月|上回|前几年|前几天|前些天|上周|有一次)[^。！？!?；;]{0,10}(有人|有个|有位|有名|有一个|有一名|别人|某人|有(个|名|位)?(工人|工友|职工|农民工))[^。！？!?；;]{0,24}$|(网传|有人(在)?传|传言|谣传|谣言|网上(有人)?(说|传)|听说有人(在)?(说|传))[^。！？!?；;]{0,30}$`)

	peopleRE = regexp.MustCompile(`([0-9]+|[一二两三四五六七八九十百]+)(多|余|来)?(个|名|位)?(人|工人|农民工|工友|职工|户|家|员工|名工人)`)
	peopleSt = mustStarter(peopleRE.String()) // peopleInText's matcher
)

// lastRunes returns the last n runes of s.
func lastRunes(s string, n int) string {
	i := len(s)
	for ; n > 0 && i > 0; n-- {
		_, size := utf8.DecodeLastRuneInString(s[:i])
		i -= size
	}
	return s[i:]
}

var (
	// A handling verb right before the means: "提一桶汽油", "带汽油".
	handleRE = regexp.MustCompile(`[带拿拎提搬泼浇喝买携扛揣灌装备]`)
	// What follows the means: "汽油已放车后备箱", "煤气罐搬到物业".
	afterCueRE = regexp.MustCompile(`^[^，。！？,!?]{0,4}(已|搬|带|拎|扛|点|浇|泼|喝|放(在|到)?[^，。！？,!?]{0,6}(车|身上|后备箱|办公室|门口))`)
)

// threatsWith finds means of harm (petrol, pesticide…) that the writer says
// will be used: a threat cue earlier in the same clause.
func threatsWith(re *regexp.Regexp, text string, benign *benignSpans) []trigger {
	var out []trigger
	for _, m := range triggers(re, text, benign) {
		i := m.lo
		start := i
		for start > 0 && i-start < 60 {
			r, size := utf8.DecodeLastRuneInString(text[:start])
			if strings.ContainsRune("。！？!?；;\n", r) {
				break
			}
			start -= size
		}
		pre := lastRunes(text[:i], 4)
		if cueRE.MatchString(text[start:i]) || handleRE.MatchString(pre) || afterCueRE.MatchString(text[m.hi:]) {
			out = append(out, m)
		}
	}
	return out
}

// benignSpans finds the harmless phrases of a text on first use: most texts
// have no trigger and never need them.
type benignSpans struct {
	text string
	idx  textIndex
	done bool
	locs [][]int
	// explained are the matches of risk patterns found harmless (benign,
	// negated, of the past, denied): the risk model does not read them.
	explained [][2]int
}

// unexplained is the text with the clauses of the matches found harmless
// blanked out (from the comma or sentence end before to the one after).
func (b *benignSpans) unexplained() string {
	if len(b.explained) == 0 {
		return b.text
	}
	t := []byte(b.text)
	for _, e := range b.explained {
		lo, hi := e[0], e[1]
		if k := strings.LastIndexAny(b.text[:lo], clauseEnds); k >= 0 {
			lo = k
		} else {
			lo = 0
		}
		if k := strings.IndexAny(b.text[hi:], clauseEnds); k >= 0 {
			hi += k
		} else {
			hi = len(t)
		}
		for i := lo; i < hi; i++ {
			t[i] = blank
		}
	}
	return string(t)
}

const clauseEnds = "，,。！？!?；;\n"

// blank replaces what the model does not read: not a space, which the
// features skip (joining the n-grams around it), but a separator.
const blank = '|'

func lazyBenign(text string) *benignSpans {
	b := &benignSpans{text: text}
	b.idx.rs.fill(text)
	return b
}

func (b *benignSpans) spans() [][]int {
	if !b.done {
		b.locs, b.done = findAllIn(benignRE, b.text, &b.idx), true
	}
	return b.locs
}

// clauses splits text at sentence ends; matching clause by clause keeps Go's
// regexp on its fast backtracking engine (inputs of tens, not thousands, of
// characters) and is what every pattern here needs: none spans a sentence.
func clauses(text string, fn func(start int, clause string)) {
	start := 0
	for i, r := range text {
		switch r {
		case '。', '！', '？', '!', '?', '\n', '；', ';':
			if i > start {
				fn(start, text[start:i])
			}
			start = i + utf8.RuneLen(r)
		}
	}
	if start < len(text) {
		fn(start, text[start:])
	}
}

// textIndex is what findAllIn needs of a text, worked out once for all the
// patterns run on it: its rune set, and its clauses with their rune masks.
type textIndex struct {
	rs      runeSet
	cls     []clause
	clsDone bool
}

// clause is one clause of a text, where it starts, and the mask of its
// runes.
type clause struct {
	start int
	s     string
	mask  runeMask
}

// clauses returns the clauses of text, split and masked on first use.
func (x *textIndex) clauses(text string) []clause {
	if !x.clsDone {
		clauses(text, func(start int, c string) {
			cl := clause{start: start, s: c}
			for _, r := range c {
				cl.mask.add(r)
			}
			x.cls = append(x.cls, cl)
		})
		x.clsDone = true
	}
	return x.cls
}

// findAllIn is re.FindAllStringIndex over text, clause by clause, with
// offsets in text. A pattern is matched as its top-level alternatives, each
// a small regexp with its own prefilter (the runes one of which it must
// contain): most alternatives are skipped by the text's rune set or a
// clause's rune mask, and the rest run on Go's fast backtracking engine.
func findAllIn(re *regexp.Regexp, text string, idx *textIndex) [][]int {
	var parts []part
	for _, p := range partsOf(re) {
		if p.pf.mayMatchSet(&idx.rs) {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return nil
	}
	var out [][]int
	var found [][]int
	for i := range idx.clauses(text) {
		c := &idx.cls[i]
		found = found[:0]
		for _, p := range parts {
			if !p.pf.mayMatchClause(c) {
				continue
			}
			if p.st != nil {
				found = p.st.findAll(c.s, c.start, found)
				continue
			}
			for _, loc := range p.re.FindAllStringIndex(c.s, -1) {
				found = append(found, []int{c.start + loc[0], c.start + loc[1]})
			}
		}
		if len(found) == 0 {
			continue
		}
		// Leftmost first, longest at a start; no overlaps.
		sort.Slice(found, func(i, j int) bool {
			if found[i][0] != found[j][0] {
				return found[i][0] < found[j][0]
			}
			return found[i][1] > found[j][1]
		})
		end := -1
		for _, m := range found {
			if m[0] >= end {
				out = append(out, m)
				end = m[1]
			}
		}
	}
	return out
}

type part struct {
	re *regexp.Regexp
	pf *prefilter
	st *starter // nil: run re itself
}

var partCache sync.Map // *regexp.Regexp → []part

// partsOf splits a pattern into its top-level alternatives.
func partsOf(re *regexp.Regexp) []part {
	if p, ok := partCache.Load(re); ok {
		return p.([]part)
	}
	var parts []part
	tree, err := syntax.Parse(re.String(), syntax.Perl)
	if err == nil && tree.Op == syntax.OpAlternate {
		for _, sub := range tree.Sub {
			r, err := regexp.Compile(sub.String())
			if err != nil {
				parts = nil
				break
			}
			parts = append(parts, part{re: r, pf: prefilterOf(r), st: newStarter(sub)})
		}
	}
	if parts == nil {
		var st *starter
		if err == nil {
			st = newStarter(tree)
		}
		parts = []part{{re: re, pf: prefilterOf(re), st: st}}
	}
	partCache.Store(re, parts)
	return parts
}

// negationSpan is the most runes a match of negationRE spans: a negation
// of at most three runes and at most twelve more.
const negationSpan = 3 + 12

// defused reports whether the text before a trigger negates it or tells of
// the past: negationRE or pastRE matches at its end. Each runs only when
// the text holds one of the runes all its matches contain, and negationRE
// only on the last negationSpan runes, where any match of it lies.
func defused(before string) bool {
	neg := before
	for i, n := len(neg), 0; i > 0 && n < negationSpan; n++ {
		_, size := utf8.DecodeLastRuneInString(neg[:i])
		i -= size
		if n+1 == negationSpan {
			neg = neg[i:]
		}
	}
	return matches(negationRE, neg) || matches(pastRE, before)
}

// trigger is a match of a risk pattern and where it is in the text.
type trigger struct {
	s      string
	lo, hi int
}

// deniedRE is a denial or a calming right after a trigger: "说我们要去
// 静坐，这完全是谣言", "说要去堵门，被她劝住了": a denial within the
// trigger's sentence, or a calming early in the next one. denied finds
// its matches without running it (deniedNowRE, deniedLaterRE); it stays
// as their definition, against which the tests hold denied.
var deniedRE = regexp.MustCompile(`^[^` + deniedEnds + `]{0,24}(` + deniedNow + `)|^[^` + deniedEnds + `]{0,40}[` + deniedEnds + `][^` + deniedEnds + `]{0,16}(` + deniedLater + `)`)

const (
	deniedEnds  = `。！？!?；;`
	deniedNow   = `谣言|谣传|不实|没有这(个|种)?(想法|打算|事)|没这(个|种)?(想法|打算|事)|劝住|劝下来|劝回|拦下|拦住了|气话|混账话|气头上|后悔|道了歉|开个玩笑|玩笑话`
	deniedLater = `劝住|劝下来|劝回|拦下|拦住了|被我(们)?(劝|拦|制止)|说的不对|说错了|不会再|收回|撤回|气话|混账话|气头上|开个玩笑|玩笑话`
)

// The words of deniedRE's two alternatives, which hold no sentence end;
// each matched from where one of its words can begin.
var (
	deniedNowSt   = mustStarter(deniedNow)
	deniedLaterSt = mustStarter(deniedLater)
)

// deniedReach is the most bytes a match of deniedRE spans: at most 62
// runes (40, a sentence end, 16 and a word of at most five), of at most
// four bytes each.
const deniedReach = 256

// denied reports whether the text after a trigger denies it: whether
// deniedRE matches it. A word of deniedNow begins within the first 25
// runes, before any sentence end; or the first sentence end is within
// the first 41 runes, and a word of deniedLater begins within 17 runes
// after it, before the next.
func denied(after string) bool {
	head := prefixRunes(after, deniedReach)
	i, pos := 0, 0
	for ; pos < len(head); i++ {
		r, size := utf8.DecodeRuneInString(head[pos:])
		if strings.ContainsRune(deniedEnds, r) {
			break
		}
		if i <= 24 && deniedNowSt.has(r) && deniedNowSt.anch.MatchString(head[pos:]) {
			return true
		}
		pos += size
	}
	if pos == len(head) || i > 40 {
		return false
	}
	_, size := utf8.DecodeRuneInString(head[pos:])
	pos += size
	for j := 0; j <= 16 && pos < len(head); j++ {
		r, size := utf8.DecodeRuneInString(head[pos:])
		if strings.ContainsRune(deniedEnds, r) {
			return false
		}
		if deniedLaterSt.has(r) && deniedLaterSt.anch.MatchString(head[pos:]) {
			return true
		}
		pos += size
	}
	return false
}

// triggers finds the non-defused matches of re in text: not inside a benign
// phrase and not right after a negation or a report of the past.
func triggers(re *regexp.Regexp, text string, benign *benignSpans) []trigger {
	var out []trigger
	for _, loc := range findAllIn(re, text, &benign.idx) {
		inBenign := false
		for _, b := range benign.spans() {
			if loc[0] < b[1] && b[0] < loc[1] {
				inBenign = true
				break
			}
		}
		if inBenign {
			benign.explained = append(benign.explained, [2]int{loc[0], loc[1]})
			continue
		}
		lo := max(0, loc[0]-90)
		for lo > 0 && !utf8Start(text[lo]) {
			lo++
		}
		if defused(text[lo:loc[0]]) || denied(text[loc[1]:]) {
			benign.explained = append(benign.explained, [2]int{loc[0], loc[1]})
			continue
		}
		out = append(out, trigger{text[loc[0]:loc[1]], loc[0], loc[1]})
	}
	return out
}

// ScoreRisk assesses a petition. Levels: critical (threats of self-harm or
// violence, imminent or planned mass action), high (a group of five or
// more, escalation to higher authorities or the media, mass action
// mentioned, repeated unresolved petitions), medium (a repeat, or a
// grievance with harm or urgency), low; the risk model (riskmodel.go) can
// raise a petition to critical and tells medium from low.
func ScoreRisk(in RiskInput) Risk {
	text := Simplify(strings.Join(strings.Fields(in.Text), ""))
	benign := lazyBenign(text)
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
		reasons = append(reasons, "threat of self-harm: "+canon(t[0].s, selfHarmWords, "自伤"))
	}
	if t := triggers(violenceRE, text, benign); len(t) > 0 {
		score += 55
		raise(Critical)
		reasons = append(reasons, "threat of violence: "+canon(t[0].s, violenceWords, "暴力"))
	}
	if t := threatsWith(meansRE, text, benign); len(t) > 0 {
		score += 55
		raise(Critical)
		reasons = append(reasons, "threat of harm with "+canon(t[0].s, meansWords, "危险物品"))
	}
	massDone := false
	if t := triggers(disruptRE, text, benign); len(t) > 0 {
		when, where, plan := near(timeRE, text, t), near(placeRE, text, t), near(planRE, text, t)
		past := toldOfPast(text, t)
		if past {
			when, where, plan = "", "", ""
			for _, x := range t {
				benign.explained = append(benign.explained, [2]int{x.lo, x.hi})
			}
		}
		switch {
		case past:
			// A mass action told of as past is history, not a threat.
		case when != "":
			score += 50
			raise(Critical)
			reasons = append(reasons, fmt.Sprintf("imminent mass action: %s (%s)", canon(t[0].s, disruptWords, "聚集"), canonicalTime(when)))
		case where != "":
			score += 50
			raise(Critical)
			reasons = append(reasons, fmt.Sprintf("planned mass action: %s at %s", canon(t[0].s, disruptWords, "聚集"), canon(where, placeWords, "指定地点")))
		case plan != "":
			score += 50
			raise(Critical)
			reasons = append(reasons, "planned mass action: "+canon(t[0].s, disruptWords, "聚集"))
		default:
			score += 25
			raise(High)
			reasons = append(reasons, "mass action mentioned: "+canon(t[0].s, disruptWords, "聚集"))
		}
		massDone = !past // a past one leaves a new collective petition to be read
	}
	group := max(in.GroupSize, peopleInText(text, &benign.idx))
	if t := triggers(massRE, text, benign); len(t) > 0 && !massDone && toldOfPast(text, t) {
		for _, x := range t {
			benign.explained = append(benign.explained, [2]int{x.lo, x.hi})
		}
	} else if len(t) > 0 && !massDone {
		if when := nearTime(timeRE, text, t, true); when != "" && (group >= 10 || near(farRE, text, t) != "") {
			score += 50
			raise(Critical)
			reasons = append(reasons, fmt.Sprintf("imminent collective petition: %s (%s)", canon(t[0].s, massWords, "集体行动"), canonicalTime(when)))
		} else {
			score += 25
			raise(High)
			reasons = append(reasons, "mass action mentioned: "+canon(t[0].s, massWords, "集体行动"))
		}
	}
	if group >= 5 {
		score += 15 + min(group/5, 10)
		raise(High)
		reasons = append(reasons, fmt.Sprintf("group of %d", group))
	}
	if t := triggers(authorityRE, text, benign); len(t) > 0 {
		score += 20
		raise(High)
		reasons = append(reasons, "escalation to higher authorities: "+canon(t[0].s, authorityWords, "上级机关"))
	}
	if t := triggers(mediaRE, text, benign); len(t) > 0 {
		score += 20
		raise(High)
		reasons = append(reasons, "threatens media exposure: "+canon(t[0].s, mediaWords, "媒体"))
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
		what := textRepeat[0].s
		if !ordinalRE.MatchString(what) {
			what = canon(what, repeatWords, "多次反映")
		}
		reasons = append(reasons, "repeated unresolved petition: "+what)
	}
	distress := triggers(emotionRE, text, benign)
	if t := distress; len(t) > 0 {
		score += 10
		reasons = append(reasons, "distress or urgency: "+canon(t[0].s, emotionWords, "情绪激动"))
	}
	// The risk model: critical on its own reading, and below high (unless
	// a repeat made it medium) it tells medium from low.
	unexplained := benign.unexplained()
	feat := in.Features
	if len(benign.explained) > 0 {
		feat = nil
	}
	probs := levelProbs(unexplained, feat)
	if pc := probs[Critical]; level != Critical && pc >= modelCritical && runesOfText(unexplained) >= modelMinRunes {
		score += 50 + int(math.Round(10*pc))
		level = Critical
		reasons = append(reasons, fmt.Sprintf("threatening or desperate wording (model %.2f)", pc))
	}
	if level != Critical {
		if pw := windowCritical(unexplained); pw >= modelWindowCritical {
			score += 50 + int(math.Round(10*pw))
			level = Critical
			reasons = append(reasons, fmt.Sprintf("threatening or desperate passage (model %.2f)", pw))
		}
	}
	if rank(level) < rank(High) && in.Repeats == 0 {
		switch pm, pl := probs[Medium], probs[Low]; {
		case probs == nil:
			if len(distress) > 0 {
				raise(Medium) // no model: distress or urgency alone
			}
		case pm >= pl:
			p := pm / (pm + pl)
			score += 10 + int(math.Round(8*(p-0.5)))
			level = Medium
			reasons = append(reasons, fmt.Sprintf("harm or urgency in the account (model %.2f)", p))
		}
	}
	if reasons == nil {
		reasons = []string{}
	}
	// Each level has its band of scores, so that sorting by score keeps
	// the levels in order: low 0–9, medium 10–14, high 15–59, critical
	// 60–100.
	switch level {
	case Low:
		score = min(score, 9)
	case Medium:
		score = max(10, min(score, 14))
	case High:
		score = squash(score-15, 15, 45, 60)
	case Critical:
		score = max(60, score)
	}
	return Risk{Level: level, Score: min(score, 100), Reasons: reasons}
}

// squash maps x ≥ 0 into [lo, lo+width), growing with x and flattening as
// it grows (k is the x that reaches half the width).
func squash(x, lo, width, k int) int {
	x = max(x, 0)
	return lo + int(math.Round(float64(width*x)/float64(x+k)))
}

// runesOfText counts the runes of s other than blanks.
func runesOfText(s string) int {
	n := 0
	for _, r := range s {
		if r != blank {
			n++
		}
	}
	return n
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

// Reasons name a trigger by a word of a fixed vocabulary, never by text
// copied from the petition (stored metadata holds no petition text).
var (
	selfHarmWords  = strings.Fields(`拖累 栏杆 护栏 窗台 水米不进 滴水不进 跳楼 跳河 跳江 跳桥 跳湖 跳海 跳井 投河 跳下去 跳下来 往下跳 楼顶 塔吊 天台 烟囱 铁塔 自杀 自尽 轻生 寻死 寻短见 自焚 汽油 烧炭 开煤气 农药 敌敌畏 百草枯 老鼠药 安眠药 吞药 割腕 割脉 上吊 吊死 撞死 撞墙 卧轨 不想活 活不下去 活着没意思 不活了 死了算了 活够了 死给 以死 一死了之 死在 拿命 把命 遗书 后事 同归于尽 最后一次 绝食`)
	violenceWords  = strings.Fields(`铁棍 斧头 总闸 配电房 刹车 同归于尽 以命抵命 一命换一命 拿刀 带刀 备刀 磨刀 揣刀 拎刀 掏刀 举刀 亮刀 刀 砍 捅 杀 弄死 搞死 整死 打死 打残 炸 放火 点火 纵火 烧 报复 血债 拼命 拼了 见血 血溅 硫酸 钢管 铁锹 镐把 棍棒 木棍 砖头 扳手 锤子 好看 收拾 打砸 推下去 推下来 扔下去 砸`)
	meansWords     = strings.Fields(`汽油 柴油 煤气罐 液化气罐 炸药 雷管 硫酸 农药 敌敌畏 百草枯 老鼠药 安眠药 烧炭`)
	disruptWords   = strings.Fields(`不离开 堵国道 堵省道 堵高速 堵公路 堵路 堵大门 堵门 围堵 封路 拦路 拦车 挖断 拉横幅 拉条幅 打横幅 打条幅 举牌 举标语 抬棺 抬尸 抬遗体 花圈 灵堂 静坐 游行 罢工 停工抗议 冲击 冲进 围攻 上街 封 堵`)
	massWords      = strings.Fields(`集体上访 集体 一起去 一起到 组织 集合 聚集 大巴 包车 租车 步行去`)
	placeWords     = strings.Fields(`集团门口 公司门口 项目部门口 工地门口 厂门口 政府门口 信访局门口 大楼门口 门口 广场 国道 省道 高速 环城路 进场道路 进场路 市政府 省政府 省委 市委`)
	authorityWords = strings.Fields(`北京 中央 国务院 国家信访局 省里 省政府 省委 省信访 巡视组 督察组 纪委 监委 国资委 市长热线 市委 越级 上级部门 更高一级 上一级 12345`)
	mediaWords     = strings.Fields(`记者 媒体 曝光 抖音 快手 微博 头条 上网 网上 电视台 报社 自媒体 朋友圈 热搜 直播`)
	repeatWords    = strings.Fields(`多次 反复 反映过 投诉过 来访过 来电过 写信过 提过 一直 至今 始终 再次 又一次 屡次 几次三番 趟 次`)
	emotionWords   = strings.Fields(`气愤 愤怒 忍无可忍 走投无路 欺人太甚 没有活路 逼上绝路 逼死 实在没办法 求求 救救 绝望 崩溃 急需 急用 看病 住院 孩子上学 孩子学费 过年回家 春节回家 讨薪 血汗钱 没饭吃 揭不开锅 情绪激动`)
)

var ordinalRE = regexp.MustCompile(`^第[二三四五六七八九十0-9]{1,3}(次|回|封信)$`)

// canon returns the first word of vocab found in match, or def.
func canon(match string, vocab []string, def string) string {
	for _, w := range vocab {
		if strings.Contains(match, w) {
			return w
		}
	}
	return def
}

// canonicalTime keeps a readable time word but drops a precise date.
func canonicalTime(s string) string {
	for _, w := range strings.Fields(`明天 后天 今天 今晚 今早 明早 明晚 次日 当天 下周 下星期 本周 这周 周末 月底 春节前 节前 年前 过几天`) {
		if s == w {
			return w
		}
	}
	return "a set day and hour"
}

// near returns a match of re in the sentence of a trigger, within about 40
// characters of it, or "". A date with its year ("2023年3月5日") or right
// after a word of the past is a date of the past and is skipped.
func near(re *regexp.Regexp, text string, trig []trigger) string {
	return nearTime(re, text, trig, false)
}

// nearTime is near; with noDeadline it skips a time given as a deadline
// ("本月20号前还没有结果，我们只能一起去…"): an ultimatum, not a plan.
func nearTime(re *regexp.Regexp, text string, trig []trigger, noDeadline bool) string {
	for _, t := range trig {
		lo, hi := sentenceAround(text, t)
		for _, loc := range re.FindAllStringIndex(text[lo:hi], -1) {
			if pastDateRE.MatchString(lastRunes(text[:lo+loc[0]], 3)) {
				continue
			}
			if noDeadline && isDeadline(text[lo+loc[0]:lo+loc[1]], text[lo+loc[1]:]) {
				continue
			}
			if text[lo+loc[0]:lo+loc[1]] == "年前" && yearsAgoRE.MatchString(lastRunes(text[:lo+loc[0]], 1)) {
				continue // "十年前": years ago, not before the new year
			}
			return text[lo+loc[0] : lo+loc[1]]
		}
	}
	return ""
}

// isDeadline reports whether the time word when, followed by after, is a
// deadline: "20号前", "月底之前", "春节前"; not "明天前往".
func isDeadline(when, after string) bool {
	if strings.HasSuffix(when, "前") {
		return true // 春节前, 节前, 年前
	}
	for _, p := range []string{"之前", "以前"} {
		if strings.HasPrefix(after, p) {
			return true
		}
	}
	if rest, ok := strings.CutPrefix(after, "前"); ok {
		r, _ := utf8.DecodeRuneInString(rest)
		return r != '往' && r != '去' && r != '来'
	}
	return false
}

// toldOfPast reports whether every trigger is told of as past: its
// sentence, before it, names a past year or time ("2019年5月", "去年").
func toldOfPast(text string, trig []trigger) bool {
	for _, t := range trig {
		lo, _ := sentenceAround(text, t)
		if !pastTimeRE.MatchString(text[lo:t.lo]) {
			return false
		}
	}
	return true
}

var (
	pastTimeRE = regexp.MustCompile(`[0-9]{4}年|[0-9一二三四五六七八九十几多两]年前|去年|前年|当年|那年|上个?月|上周|前几天|那天|那次|以前|曾经`)
	yearsAgoRE = regexp.MustCompile(`[0-9一二三四五六七八九十几多两]`)
	pastDateRE = regexp.MustCompile(`年$|去年|前年|当年|那年|上个?月|上周`)
)

// sentenceEnds end the sentence around a trigger.
const sentenceEnds = "。！？!?\n"

// sentenceAround is the sentence of a trigger, from the sentence end
// before it to the one after it, at most 120 bytes either side.
func sentenceAround(text string, t trigger) (lo, hi int) {
	lo, hi = max(0, t.lo-120), min(len(text), t.hi+120)
	for lo > 0 && !utf8Start(text[lo]) {
		lo--
	}
	for hi < len(text) && !utf8Start(text[hi]) {
		hi++
	}
	if k := strings.LastIndexAny(text[lo:t.lo], sentenceEnds); k >= 0 {
		_, size := utf8.DecodeRuneInString(text[lo+k:])
		lo += k + size
	}
	if k := strings.IndexAny(text[t.hi:hi], sentenceEnds); k >= 0 {
		hi = t.hi + k
	}
	return lo, hi
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// peopleInText finds the largest head count the text states of the
// petitioners ("我们12个人", "三十多名工人被拖欠工资"): a count with a group
// word near it.
func peopleInText(text string, idx *textIndex) int {
	best := 0
	pf := prefilterOf(peopleRE)
	if !pf.mayMatchSet(&idx.rs) {
		return 0
	}
	for i := range idx.clauses(text) {
		cl := &idx.cls[i]
		if !pf.mayMatchClause(cl) {
			continue
		}
		c := cl.s
		peopleSt.findAllSubmatch(c, func(m []int) {
			// A head count of others (a dormitory, a company, a quota)
			// has no group word within a dozen runes of it.
			if !speaksAsGroup(runesAround(c, m[0], m[1], 12)) {
				return
			}
			if n := parseCount(c[m[2]:m[3]]); n > best && n < 100000 {
				best = n
			}
		})
	}
	return best
}

// groupWords mark a head count as the petitioners': they speak as a group,
// sign, come together, or are owed.
var groupWords = strings.Fields(`我们 咱们 俺们 我等 全体 联名 签名 代表 共同 一起 集体 大家 讨 反映 来访 上访 来电 求助 要求 请求 拖欠 欠薪 没发 未发 维权`)

// runesAround returns s[lo:hi] with up to n runes on either side.
func runesAround(s string, lo, hi, n int) string {
	for i := 0; i < n && lo > 0; i++ {
		_, size := utf8.DecodeLastRuneInString(s[:lo])
		lo -= size
	}
	for i := 0; i < n && hi < len(s); i++ {
		_, size := utf8.DecodeRuneInString(s[hi:])
		hi += size
	}
	return s[lo:hi]
}

// prefixRunes returns the longest prefix of s of at most n bytes that does
// not split a rune: it backs up over at most utf8.UTFMax-1 continuation
// bytes, so that stray ones (invalid UTF-8, each read as U+FFFD) do not
// shorten it further.
func prefixRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for i := n; i > 0 && i > n-utf8.UTFMax; i-- {
		if utf8Start(s[i]) {
			return s[:i]
		}
	}
	return s[:n]
}

func speaksAsGroup(clause string) bool {
	for _, w := range groupWords {
		if strings.Contains(clause, w) {
			return true
		}
	}
	return false
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
