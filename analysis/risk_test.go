package analysis

import (
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// The risk tests pin the levels of issue 7 on texts written for the test:
// critical for threats of self-harm or violence and imminent mass action,
// high for groups, escalation and repeats, medium for distress, low for the
// rest; and the trigger words that must not make a text critical when used
// harmlessly. Helpers are prefixed an.

// anRiskCases are texts with their expected level and a substring one of the
// reasons must contain ("" for no reason at all).
var anRiskCases = []struct {
	name   string
	text   string
	group  int
	level  string
	reason string
}{
	// Critical: self-harm.
	{"self-harm 跳楼", "工资再拖下去，我只能跳楼了。", 1, Critical, "threat of self-harm: 跳楼"},
	{"self-harm 农药", "实在走投无路，我就当着你们的面喝农药。", 1, Critical, "农药"},
	{"self-harm 农药 bought", "农药我已经买好了，放在包里，不给钱我就喝。", 1, Critical, "农药"},
	{"self-harm 割腕", "你们再推来推去，我就在信访室割腕。", 1, Critical, "threat of self-harm: 割腕"},
	{"self-harm 烧炭", "炭和炉子我都准备好了，准备烧炭，反正活着也没意思。", 1, Critical, "烧炭"},
	{"self-harm 爬塔吊", "这周再不结账，我们就爬塔吊，不给钱绝不下来。", 1, Critical, "塔吊"},
	// Critical: violence.
	{"violence 拿刀", "包工头要是再躲着不见，我就拿刀去找他。", 1, Critical, "threat of violence: 拿刀"},
	{"violence 同归于尽", "逼急了我就和那个老板同归于尽。", 1, Critical, "同归于尽"},
	{"violence 泼汽油", "汽油我买好了，不给说法就去项目部泼汽油。", 1, Critical, "汽油"},
	{"violence 放火", "再不给钱，我就去工地放火。", 1, Critical, "threat of violence: 放火"},
	// Critical: imminent mass action.
	{"mass action 明天堵路", "明天我们全体工友去堵路，让大家都看看。", 1, Critical, "imminent mass action: 堵路"},
	{"mass action 下周一拉横幅", "下周一我们在集团门口拉横幅讨说法。", 1, Critical, "拉横幅"},
	{"mass action planned", "工友们已经商量好了，谁也不退，要去把搅拌站围住。", 1, Critical, "planned mass action"},
	{"mass action on a holiday", "国庆节我们几家一起去售楼部静坐。", 1, Critical, "imminent mass action: 静坐"},
	// The time is found near the mention that has one, not only the first.
	{"mass action time at a later mention", "关于围堵的情况说明。\n" + strings.Repeat("工程款拖了一年多，账对过多次。", 6) + "大家定好周三早上去围堵公司。", 1, Critical, "imminent mass action: 围堵"},
	{"collective petition 集体反映", "我们三十多人约定下月5日集体反映到市里。", 1, Critical, "imminent collective petition"},
	// Critical: threats in other words.
	{"violence 打断腿", "让我查到是谁克扣的，非打断他的腿不可。", 1, Critical, "threat of violence"},
	{"violence 后果自负", "钱再不到位，出了什么事你们后果自负。", 1, Critical, "threat of violence"},
	{"violence 点了房子", "逼急了我就把他家房子点了。", 1, Critical, "threat of violence"},
	{"self-harm 碾过去", "推土机要推就从我身上碾过去。", 1, Critical, "threat of self-harm"},
	{"self-harm farewell", "我今晚就到河边去，这些年谢谢你们了。", 1, Critical, "threat of self-harm"},
	{"self-harm 拖累", "他说活着就是个累赘，省得再拖累这个家。", 1, Critical, "threat of self-harm: 拖累"},
	{"self-harm refusing food", "老人两天了一口饭都不吃，说等不到那一天了。", 1, Critical, "threat of self-harm"},
	{"self-harm outside a railing", "我现在就坐在天桥的护栏外面，你们今天必须给个答复。", 1, Critical, "threat of self-harm"},
	{"up the crane together", "年前再拿不到钱，我们就一起上塔吊，反正回去也没法跟家里交代。", 1, Critical, "threat of self-harm: 塔吊"},
	{"a new collective petition after a past one", "去年我们在工地门口静坐过。我们50名工人明天集体上访。", 1, Critical, "imminent collective petition"},
	{"前往 is no deadline", "我们50名工人明天前往市政府集体上访。", 1, Critical, "imminent collective petition"},
	{"sit-in by another name", "我们几家供应商约好了，下周一上午一起到集团总部，不给说法绝不离开。", 1, Critical, "imminent mass action: 不离开"},
	{"asking a lethal dose", "来电人称病人这两天反复问安眠药吃多少会睡过去醒不过来。", 1, Critical, "threat of self-harm"},
	{"asking about heights", "室友说他前天问过大家，从八楼下去人是不是就没了。", 1, Critical, "threat of self-harm"},
	{"sitting on the roof's edge", "保安夜里巡查，在楼顶天台看见他一个人坐在边上。", 1, Critical, "threat of self-harm: 楼顶"},
	{"a literary farewell", "名节既污，无颜苟存。诸位拆阅此信之时，我已不在人间。", 1, Critical, "threat of self-harm"},
	{"a last message", "三年十一次没有回复。这是最后一条。钥匙在门垫下面。", 1, Critical, "threat of self-harm"},
	{"settling affairs", "他这几天把自己的衣服和被子都送给了工友，还把手机里的照片全删了。", 1, Critical, "threat of self-harm"},
	{"veiled: where he lives", "主任家住哪个小区我都打听清楚了，他最好别让我碰上。", 1, Critical, "threat of violence"},
	{"veiled: my own way", "我只给你们最后三天，三天后我会用我自己的方式解决。", 1, Critical, "threat of violence"},
	{"veiled: nobody leaves whole", "谁敢来收房，谁就别想完完整整地走出去。", 1, Critical, "threat of violence"},
	{"traditional characters", "我們已決定本週六上午十點全體業主到售樓處門口靜坐。", 1, Critical, "imminent mass action: 静坐"},
	{"veiled: think twice", "工人天天围着我要钱，配电房每根线怎么走他们都清楚，我管得了一时管不了一世，望贵司三思。", 1, Critical, "threat of violence"},
	{"collective petition on a day of this month", "车票已经买好了，本月十五号我们二十个人一起去省里上访。", 1, Critical, "imminent collective petition"},
	// High.
	{"group of 12 via group_size", "班组工资三个月没有发放，请求尽快结清。", 12, High, "group of 12"},
	{"group of 12 in the text", "我们班组一共十二个人，三个月工资没有发放。", 1, High, "group of 12"},
	{"group of 18 owed wages", "十八名工人的工资三个月没发了，请领导督促。", 1, High, "group of 18"},
	{"escalation 去北京上访", "这件事再不解决，我就去北京上访。", 1, High, "escalation to higher authorities: 北京"},
	{"media 找记者曝光", "再不处理，我就找记者曝光你们。", 1, High, "threatens media exposure: 记者"},
	{"repeat 第三次反映", "这已经是我第三次反映这件事了，问题还是没有解决。", 1, High, "repeated unresolved petition: 第三次"},
	{"repeat reported last year", "办公楼电梯经常困人，我前年就反映过，到现在还是老样子。", 1, High, "repeated unresolved petition: 反映过"},
	{"media: a video", "月底再不给钱，我就发视频说你们欠小微企业的钱不还。", 1, High, "threatens media exposure"},
	{"media: a forum post", "文章我已经写好了，一周内不整改就发到本地论坛上。", 1, High, "threatens media exposure"},
	{"media: traditional", "若兩星期內仍未維修，本人將向傳媒投訴。", 1, High, "threatens media exposure"},
	{"repeat: third letter", "这是我今年第三封信了，补偿金的事还是没人答复。", 1, High, "repeated unresolved petition: 第三封信"},
	{"repeat: twice pressed in writing", "货款已于去年十二月及今年三月两度书面追讨，均未获回复。", 1, High, "repeated unresolved petition"},
	{"escalation to a regulator", "如果本周还不停用检测，我将向市住建局和安监站举报。", 1, High, "escalation to higher authorities"},
	{"a festival as a deadline", "春节前再不给钱，我们五十人只能集体上访。", 1, High, "group of 50"},
	{"deadline, not a plan", "如果月底前还不结清，我们二十个人只能一起去省里反映。", 1, High, "escalation to higher authorities"},
	// Medium.
	{"urgency 急需 看病", "家里老人病了，急需这笔钱去医院看病。", 1, Medium, "distress or urgency: 急需"},
	// Low.
	{"ordinary", "小区东门的路灯坏了半个月，晚上出入不方便，请安排维修。", 1, Low, ""},
	{"ordinary inquiry", "想咨询一下职工疗养的报名时间和条件。", 1, Low, ""},
}

// anNotHigh are texts a trigger word must not raise to high: a second
// contract is no repeat petition, a past mass action is history, and a
// news item about an authority is no threat to go there.
var anNotHigh = []struct{ name, text string }{
	{"second contract", "我的劳动合同下月到期，这是第二次续签了，想问一下需要带哪些材料。"},
	{"past mass action", "十年前改制时大家堵过厂门，那都过去了。我只想问问工龄补偿的差额什么时候发。"},
	{"road closed for works", "听说下个月这条路要封路修管廊，想问问公交怎么绕行，沿街店铺门口能不能留个通道。"},
	{"online class", "隔壁工地电锯太吵，我在家上网课听不清，能不能把开锯时间改到上午？"},
	{"road cut by the works", "施工便道把我们进村的土路挖断了，出门要绕五公里，能不能先铺几块钢板？"},
	{"past collective visit", "去年这个时候，好多邻居一起去项目部门口理论过，后来晚上不施工了，谢谢。"},
	{"official account", "你们单位公众号昨天那篇文章写错了一个字，提醒一下。"},
	{"two years ago", "两年前工友们集体上访过，后来问题解决了，这次只想问问社保转移的手续。"},
	{"blocked by hoardings", "施工围挡把店门口堵了两个月，顾客的车进不来，请调整围挡位置。"},
	{"owners invited to inspect", "建议交房前组织业主代表参与分户验收，大家收房更放心。"},
	{"a dormitory's head count", "宿舍八个人挤一间，空调坏了一个月，晚上热得睡不着。"},
	{"a hiring's head count", "这次录用的八个人里有三个是领导亲属，笔试成绩也没公布。"},
	{"staff sent to search", "档案找不到，接待意见是转代管单位组织人员查找，限期答复。"},
	{"authority in the news", "新闻上说国资委要求央企带头清理拖欠账款，想问问我们的材料款能不能也清一清。"},
}

func TestScoreRiskNotHigh(t *testing.T) {
	for _, tt := range anNotHigh {
		t.Run(tt.name, func(t *testing.T) {
			if r := ScoreRisk(RiskInput{Text: tt.text, GroupSize: 1}); rank(r.Level) >= rank(High) {
				t.Errorf("level %s, want below high (reasons %q)", r.Level, r.Reasons)
			}
		})
	}
}

// anHardNegatives use trigger words harmlessly: none may be critical.
var anHardNegatives = []struct{ name, text string }{
	{"跳楼价", "楼下商铺整天用喇叭喊跳楼价清仓，吵得孩子没法写作业。"},
	{"楼顶漏水", "我家住顶楼，楼顶漏水好几年了，一下雨卧室就滴水。"},
	{"安全网", "脚手架外侧没挂安全网，防止工人跳下或坠落的措施一样都没有。"},
	{"农药厂污染", "村边的农药厂污染了灌溉渠，稻田里一股怪味。"},
	{"past threat of others", "去年有人扬言跳楼被拘留了，我们只想依法依规反映问题。"},
	{"negated 堵路", "我们不会采取过激行为，也不会去堵路，只希望公司尽快发工资。"},
	{"刀具管理", "食堂刀具管理不规范，用完随手放在窗口台面上。"},
	{"菜刀 in a canteen complaint", "食堂刀具管理不规范，菜刀用完随手放在打饭窗口台面上。"},
	{"消防通道被堵", "宿舍楼的消防通道被堵，纸箱杂物堆到了楼梯口。"},
	{"拉横幅庆祝", "项目封顶那天，公司组织大家拉横幅庆祝，拍了合影。"},
	{"集体户口", "我是集体户口，单位说办不了购房资格证明。"},
	{"消防演练放火", "公司组织消防演练，在空地上放火模拟火灾，浓烟飘进了小区。"},
	{"柴油发电机", "工地的柴油发电机整夜响个不停，楼上住户睡不着。"},
	{"negated at a distance", "我们绝不会学那些动不动就闹着去跳楼的人，只讲道理。"},
	{"rumour denied", "网上有人传我们班组有人要跳楼讨薪，这是谣言，工资早就结清了。"},
	{"past of a worker", "前几天有个工友在楼顶作业时差点跳下去救安全帽，被班长拉住了。"},
	{"mass action in a past year", "2019年5月3日工人们在厂门口拉横幅，后来问题解决了。"},
	{"a figure of speech", "加班费拖了三个月，气得我想撞墙，可我还是相信组织，请尽快发放。"},
	{"words regretted", "我说了同归于尽这种混账话，事后很后悔，已经向班长道了歉。"},
	{"a joke marked as one", "菜再这么咸我迟早被齁死，遗言就写多放点水。开个玩笑，建议少放点盐。"},
	{"banging my head every day", "破碎锤天天早上六点开敲，吵得我天天想撞墙，请调整作业时间。"},
	{"ran for their lives", "透水那天我们十几个人顺着上山拼命往上爬，水一会儿就没过了腰。"},
	{"a crane that could kill", "门机刹车打滑、钢丝绳断丝，老师傅说这样下去迟早吊死人，请尽快检修。"},
	{"a meditation class", "职工之家的静坐冥想课安排在周三下午四点，能不能晚上再开一个班？"},
	{"worked hard", "我给公司拼命干了二十年，现在说辞退就辞退，补偿也不给足。"},
	{"jumped clear in an accident", "那台铲车刹车失灵，幸亏司机跳下来了，车子直接冲进了沟里。"},
	{"a novel's plot", "我在写一部小说，情节里有个工人爬上塔吊要跳楼讨薪，想采访几位项目上的师傅。"},
	{"words taken back", "前几天我在电话里说要找他拼命，那是气话，我也后悔了，还是想走仲裁。"},
	{"calmed after a long sentence", "明天大家要去集团门口静坐，他跟他们讲了" + strings.Repeat("很久", 16) + "很。后来被我们劝住了。"},
	{"calmed in the next sentence", "昨晚有人提议明天去把公司大门堵了。大家后来都被我劝下来了，只盼领导尽快答复。"},
}

func TestScoreRiskLevels(t *testing.T) {
	for _, tt := range anRiskCases {
		t.Run(tt.name, func(t *testing.T) {
			r := ScoreRisk(RiskInput{Text: tt.text, GroupSize: tt.group})
			if r.Level != tt.level {
				t.Errorf("level = %s, want %s (reasons %q)", r.Level, tt.level, r.Reasons)
			}
			if tt.reason == "" {
				if len(r.Reasons) != 0 {
					t.Errorf("reasons = %q, want none", r.Reasons)
				}
			} else if !anAnyContains(r.Reasons, tt.reason) {
				t.Errorf("reasons = %q, want one containing %q", r.Reasons, tt.reason)
			}
			if r.Reasons == nil {
				t.Error("reasons is nil, want an empty list")
			}
			anCheckScore(t, r)
		})
	}
}

func TestScoreRiskHardNegatives(t *testing.T) {
	for _, tt := range anHardNegatives {
		t.Run(tt.name, func(t *testing.T) {
			r := ScoreRisk(RiskInput{Text: tt.text, GroupSize: 1})
			if r.Level == Critical {
				t.Errorf("level critical for a harmless text (reasons %q)", r.Reasons)
			}
			anCheckScore(t, r)
		})
	}
}

// TestScoreRiskOrderOfLevels: the score grows with the level, so that
// sorting by score puts the critical petitions first.
func TestScoreRiskOrderOfLevels(t *testing.T) {
	minOf, maxOf := map[string]int{}, map[string]int{}
	for _, tt := range anRiskCases {
		r := ScoreRisk(RiskInput{Text: tt.text, GroupSize: tt.group})
		if v, ok := minOf[r.Level]; !ok || r.Score < v {
			minOf[r.Level] = r.Score
		}
		maxOf[r.Level] = max(maxOf[r.Level], r.Score)
	}
	levels := []string{Low, Medium, High, Critical}
	for i := 1; i < len(levels); i++ {
		lo, hi := levels[i-1], levels[i]
		if maxOf[lo] > minOf[hi] {
			t.Errorf("a %s text scores %d, above a %s text's %d", lo, maxOf[lo], hi, minOf[hi])
		}
	}
	if maxOf[Low] != 0 {
		t.Errorf("an ordinary text scores %d, want 0", maxOf[Low])
	}
}

func TestScoreRiskRepeats(t *testing.T) {
	const text = "小区东门的路灯坏了半个月，晚上出入不方便，请安排维修。"
	for _, tt := range []struct {
		name                string
		repeats, unresolved int
		level, reason       string
	}{
		{"none", 0, 0, Low, ""},
		{"one earlier, resolved", 1, 0, Medium, "2nd petition on the same matter"},
		{"one earlier, open", 1, 1, High, "2nd petition on the same matter"},
		{"two earlier, one open", 2, 1, High, "3rd petition on the same matter"},
		{"three earlier", 3, 3, High, "4th petition on the same matter"},
		{"ten earlier", 10, 0, Medium, "11th petition on the same matter"},
		{"eleven earlier", 11, 0, Medium, "12th petition on the same matter"},
		{"twenty earlier", 20, 20, High, "21st petition on the same matter"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := ScoreRisk(RiskInput{Text: text, GroupSize: 1, Repeats: tt.repeats, Unresolved: tt.unresolved})
			if r.Level != tt.level {
				t.Errorf("level = %s, want %s (reasons %q)", r.Level, tt.level, r.Reasons)
			}
			if tt.reason != "" && !anAnyContains(r.Reasons, tt.reason) {
				t.Errorf("reasons = %q, want %q", r.Reasons, tt.reason)
			}
			anCheckScore(t, r)
		})
	}
	// A repeat raises the score of any text, and more repeats raise it more
	// (until the cap).
	for _, tt := range anRiskCases {
		base := ScoreRisk(RiskInput{Text: tt.text, GroupSize: tt.group})
		once := ScoreRisk(RiskInput{Text: tt.text, GroupSize: tt.group, Repeats: 1, Unresolved: 1})
		twice := ScoreRisk(RiskInput{Text: tt.text, GroupSize: tt.group, Repeats: 2, Unresolved: 2})
		// A text that already says it is a repeat ("第三次") scores the
		// same with a linked repeat: the same fact is counted once.
		textSaysRepeat := anAnyContains(base.Reasons, "repeated unresolved petition")
		if once.Score < base.Score || (base.Score < 100 && once.Score == base.Score && !textSaysRepeat) {
			t.Errorf("%s: score with a repeat %d, without %d", tt.name, once.Score, base.Score)
		}
		if once.Score < 100 && twice.Score <= once.Score {
			t.Errorf("%s: score with two repeats %d, with one %d", tt.name, twice.Score, once.Score)
		}
		if rank(once.Level) < rank(base.Level) || rank(once.Level) < rank(High) {
			t.Errorf("%s: level with an open repeat %s, without %s", tt.name, once.Level, base.Level)
		}
	}
}

func TestScoreRiskScoreRange(t *testing.T) {
	everything := "明天我们两百多人去堵国道、到集团门口拉横幅，不给钱我就跳楼，拿刀和他同归于尽，" +
		"再去北京上访，找记者曝光，这是第五次反映了，孩子看病急需用钱。"
	r := ScoreRisk(RiskInput{Text: everything, GroupSize: 500, Repeats: 9, Unresolved: 9})
	if r.Level != Critical || r.Score != 100 {
		t.Errorf("everything at once: %s %d, want critical 100", r.Level, r.Score)
	}
	for _, in := range []RiskInput{{}, {Text: ""}, {GroupSize: -5}, {Repeats: -1, Unresolved: -1}, {GroupSize: 1 << 30}} {
		r := ScoreRisk(in)
		anCheckScore(t, r)
	}
}

// TestScoreRiskReasonsVocabulary: reasons are stored in clear as metadata
// and listed with summaries, so they may hold the fixed trigger words and
// templates only: never a name, a place or a date from the text (DESIGN.md:
// "plaintext metadata holds no names … or petition text").
func TestScoreRiskReasonsVocabulary(t *testing.T) {
	for _, tt := range []struct {
		name, text string
		secrets    []string // what must not appear in any reason
	}{
		{"date of a mass action", "3月5日上午我们到集团门口拉横幅。", []string{"3", "5", "月", "日"}},
		{"hour of a mass action", "下周三早上8点我们去项目部门口静坐。", []string{"8"}},
		{"date of a collective petition", "我们一百多个工人12月20日集体去省政府上访。", []string{"12", "20"}},
		{"date inside a climbing threat", "我们爬上塔吊，3月5日前不结清工资就不下来。", []string{"3", "5", "结清工资"}},
		{"name inside a climbing threat", "我要爬上王建国工地的塔吊不下来。", []string{"王建国"}},
		{"name inside a jumping threat", "我就从王建国家楼顶跳下去。", []string{"王建国"}},
		{"name inside a rooftop threat", "上楼顶找王建国要钱，不给就跳。", []string{"王建国", "要钱"}},
		{"name inside a violence threat", "拿起钢管去王建国家找他算账。", []string{"王建国"}},
		{"surname inside a violence threat", "我要把姓王的经理推下去。", []string{"姓王", "经理"}},
		{"name inside a blockade", "明天我们去堵王建国家门口。", []string{"王建国"}},
		{"name inside a sealing threat", "我们要把李明华的办公室封了。", []string{"李明华"}},
		{"gate number inside a blockade", "明天要去堵住5号门口。", []string{"5"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := ScoreRisk(RiskInput{Text: tt.text, GroupSize: 1})
			if r.Level == Low {
				t.Fatalf("level low for a threat (reasons %q)", r.Reasons)
			}
			for _, reason := range r.Reasons {
				if anAllowedDigits.MatchString(reason) {
					continue // "group of N", "Nth petition on the same matter"
				}
				for _, s := range tt.secrets {
					if strings.Contains(reason, s) {
						t.Errorf("reason %q holds %q from the text", reason, s)
					}
				}
			}
		})
	}
}

// anAllowedDigits are the reasons whose numbers are counts, not text.
var anAllowedDigits = regexp.MustCompile(`^(group of [0-9]+|[0-9]+(st|nd|rd|th) petition on the same matter)$`)

func TestPeopleInText(t *testing.T) {
	for _, tt := range []struct {
		text string
		want int
	}{
		{"我们十二个人", 12},
		{"我们三十多名工人", 30},
		{"两百多人联名", 200},
		{"1200名职工的集体诉求", 1200},
		{"一百二十户居民共同反映", 120},
		{"二十五位员工被拖欠工资", 25},
		{"我们五个工友和十二个人", 12},
		{"我们没有人数", 0},
		{"我们工资三千元", 0},
		{"我们99999人", 99999},
		{"我们100000人", 0}, // implausible: ignored
		// Head counts of others: a dormitory, a quota, a workforce.
		{"宿舍十二个人一间", 0},
		{"这次录用的八个人里有三个是亲属", 0},
		{"我们十二个人。宿舍四十个人一间", 12},
	} {
		if got := peopleInText(tt.text, &lazyBenign(tt.text).idx); got != tt.want {
			t.Errorf("peopleInText(%q) = %d, want %d", tt.text, got, tt.want)
		}
	}
}

func TestParseCount(t *testing.T) {
	for _, tt := range []struct {
		s    string
		want int
	}{
		{"十二", 12}, {"三十", 30}, {"两百", 200}, {"1200", 1200}, {"十", 10}, {"五", 5},
		{"二十五", 25}, {"一百二十", 120}, {"三百零", 300}, {"07", 7},
	} {
		if got := parseCount(tt.s); got != tt.want {
			t.Errorf("parseCount(%q) = %d, want %d", tt.s, got, tt.want)
		}
	}
}

func TestOrdinal(t *testing.T) {
	for n, want := range map[int]string{1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 11: "11th", 12: "12th", 13: "13th",
		21: "21st", 22: "22nd", 23: "23rd", 101: "101st", 111: "111th", 112: "112th"} {
		if got := ordinal(n); got != want {
			t.Errorf("ordinal(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestCanonicalTime(t *testing.T) {
	for in, want := range map[string]string{
		"明天": "明天", "下周": "下周", "3月5日": "a set day and hour", "三月五号": "a set day and hour",
		"早上8点": "a set day and hour", "5号晚": "a set day and hour",
	} {
		if got := canonicalTime(in); got != want {
			t.Errorf("canonicalTime(%q) = %q, want %q", in, got, want)
		}
	}
}

func anAnyContains(xs []string, sub string) bool {
	for _, x := range xs {
		if strings.Contains(x, sub) {
			return true
		}
	}
	return false
}

// anCheckScore checks the invariants of any assessment.
func anCheckScore(tb testing.TB, r Risk) {
	tb.Helper()
	if r.Score < 0 || r.Score > 100 {
		tb.Errorf("score %d outside 0–100", r.Score)
	}
	switch r.Level {
	case Low, Medium, High, Critical:
	default:
		tb.Errorf("level %q", r.Level)
	}
	if r.Level == Low && len(r.Reasons) > 0 {
		tb.Errorf("low with reasons %q", r.Reasons)
	}
	if r.Level != Low && len(r.Reasons) == 0 {
		tb.Errorf("level %s without a reason", r.Level)
	}
}

// TestDefusedMatchesRegexps: defused, with its prefilters and the trimmed
// window of negationRE, answers as the two regexps on the whole text do,
// for the text before every position of the corpus and of phrases built to
// sit at the edge of the window.
func TestDefusedMatchesRegexps(t *testing.T) {
	docs, err := Corpus()
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{
		"我们绝不会跳楼", "我没有想过要去跳楼", "以前有人在这里跳楼，后来",
		"不打算一二三四五六七八", "不打算一二三四五六七八九", "x不打算一二三四五六七八",
		"没有要", "没有想一二三四五六七八", "没有想一二三四五六七八九",
		"去年有个工友从楼上跳下来一二三四五六七八九十一二三四五六七八九十",
	}
	for _, d := range docs {
		texts = append(texts, strings.Join(strings.Fields(d.Text), ""))
	}
	before := func(text string, end int) string {
		lo := max(0, end-90)
		for lo > 0 && !utf8.RuneStart(text[lo]) {
			lo++
		}
		return text[lo:end]
	}
	agreeAtRuneStarts(t, texts, before, defused, func(s string) bool { return negationRE.MatchString(s) || pastRE.MatchString(s) })
}

// agreeAtRuneStarts checks, at every rune boundary of every text (its end
// included), that fast and slow answer alike on cut(text, boundary), and
// that slow says yes somewhere.
func agreeAtRuneStarts(t *testing.T, texts []string, cut func(text string, at int) string, fast, slow func(string) bool) {
	t.Helper()
	n := 0
	for _, text := range texts {
		for at := range len(text) + 1 {
			if at < len(text) && !utf8.RuneStart(text[at]) {
				continue
			}
			in := cut(text, at)
			want := slow(in)
			if want {
				n++
			}
			if got := fast(in); got != want {
				t.Fatalf("%q: %v, want %v", in, got, want)
			}
		}
	}
	if n == 0 {
		t.Fatal("no match among the cases")
	}
}

// TestDeniedMatchesRegexp: denied, which reads only the first deniedReach
// bytes after a trigger, answers as deniedRE on eight times as much text,
// after every position of the corpus and of phrases built to end at the
// edge of its reach (a quarter of the corpus).
func TestDeniedMatchesRegexp(t *testing.T) {
	docs, err := Corpus()
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("一", 40) + "。" + strings.Repeat("二", 16)
	texts := []string{
		"，这是谣言", long + "被我们劝住了", long + "x被我们劝住了", "😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀后悔",
		strings.Repeat("😀", 40) + "。" + strings.Repeat("😀", 16) + "被我们劝住了",
		// Invalid UTF-8: stray continuation bytes are runes of one byte.
		"，这是谣言" + strings.Repeat("\x80", 300), strings.Repeat("\x80", 40) + "。" + strings.Repeat("\xbf", 16) + "劝住" + strings.Repeat("\x80", 300),
		"，这是谣言\xe4\xb8" + strings.Repeat("\x80", 300),
	}
	for i, d := range docs {
		if i%4 != 0 {
			continue // a quarter of the corpus keeps the test to seconds
		}
		texts = append(texts, strings.Join(strings.Fields(d.Text), ""))
	}
	// 2 KB, eight times the reach claimed, keeps the test linear.
	after := func(text string, start int) string { return prefixRunes(text[start:], 8*deniedReach) }
	agreeAtRuneStarts(t, texts, after, denied, deniedRE.MatchString)
}

// TestScoreRiskModelReadsWhatRulesMiss: threats and despair in words no
// rule lists are raised to critical by the risk model, with a reason that
// names the model and no word of the petition.
func TestScoreRiskModelReadsWhatRulesMiss(t *testing.T) {
	for _, text := range []string{
		"欠薪\n老板欠我的钱一年了，我这几天把家里的事都交代好了，给孩子的信也写好了，你们看着办吧。",
		"拆迁补偿\n我现在就坐在项目部楼顶边上，风很大，今天不给个准话我就不下去了。",
		"工伤\n我男人截瘫在床，已经四天没吃一口饭了，说拖累我们不如早点走。",
	} {
		r := ScoreRisk(RiskInput{Text: text, GroupSize: 1})
		if r.Level != Critical || len(r.Reasons) != 1 || !strings.HasPrefix(r.Reasons[0], "threatening or desperate wording (model ") {
			t.Errorf("%q: %s %q, want critical from the model alone", text, r.Level, r.Reasons)
		}
		anCheckScore(t, r)
	}
}

// TestUnexplained: the risk model does not read the clauses whose
// dangerous words the rules explained away (negated, of the past, benign,
// denied), and reads the rest.
func TestUnexplained(t *testing.T) {
	text := "去年有人扬言跳楼被拘留了，我们只想依法依规反映问题。"
	b := lazyBenign(text)
	if got := triggers(selfHarmRE, text, b); len(got) != 0 {
		t.Fatalf("triggers %v in a report of the past", got)
	}
	u := b.unexplained()
	if strings.Contains(u, "跳楼") || strings.Contains(u, "扬言") || !strings.Contains(u, "我们只想依法依规反映问题") {
		t.Errorf("unexplained text %q", u)
	}
	if n := runesOfText(u); n != len([]rune("，我们只想依法依规反映问题。")) {
		t.Errorf("runesOfText = %d", n)
	}
	if plain := "工地晚上施工太吵。"; lazyBenign(plain).unexplained() != plain {
		t.Error("a text without explained matches changed")
	}
}

// TestScoreRiskSharedFeatures: given the category model's features of the
// text, ScoreRisk answers as it does without them, on every corpus text
// (whether or not clauses were blanked), and ignores features of another
// feature space.
func TestScoreRiskSharedFeatures(t *testing.T) {
	ex, m := anCorpusModel(t)
	other := &Model{Bits: 12, MaxN: 2}
	for _, e := range ex {
		text := e.FullText()
		want := ScoreRisk(RiskInput{Text: text, GroupSize: e.GroupSize})
		for _, f := range []*Features{m.Featurize(text), other.Featurize(text)} {
			got := ScoreRisk(RiskInput{Text: text, GroupSize: e.GroupSize, Features: f})
			if got.Level != want.Level || got.Score != want.Score || !slices.Equal(got.Reasons, want.Reasons) {
				t.Fatalf("%s: with features %+v, without %+v", e.ID, got, want)
			}
		}
	}
	if m.Fits(other.Featurize("工地")) || !m.Fits(m.Featurize("工地")) || m.Fits(nil) {
		t.Error("Fits")
	}
}

// anBuriedThreat is a long letter whose one veiled threat of self-harm, a
// sentence near the end, is diluted in the whole letter's features.
const anBuriedThreat = "关于第三项目部拖欠工资的情况反映\n尊敬的集团领导：我叫王建华，是第三项目部钢筋班的工人。我们班组从去年三月开始在城西物流园项目干活，一直干到今年一月。按照当初的约定，工资每月结一次，可是从八月起就再也没有发过。班组长说项目部没有拨款，项目部又说钱已经给了劳务公司。我们去劳务公司找了四五次，每次都说下个月。我家里两个孩子上学，老父亲常年吃药，房租也欠了三个月。这几天我把存折和孩子的照片都整理好了，留给我妈，往后就不用再麻烦谁了。希望领导帮我们查一查这笔钱到底卡在哪里。"

// TestScoreRiskReadsPassages: a threat in one passage of a long letter is
// found by the model's reading of runs of sentences, which the whole
// letter's reading misses; without that passage the letter is not
// critical.
func TestScoreRiskReadsPassages(t *testing.T) {
	if p := levelProbs(anBuriedThreat, nil)[Critical]; p >= modelCritical {
		t.Fatalf("the whole letter reads %.2f critical: not a test of passages", p)
	}
	r := ScoreRisk(RiskInput{Text: anBuriedThreat, GroupSize: 1})
	if r.Level != Critical || !anAnyContains(r.Reasons, "threatening or desperate passage (model ") {
		t.Errorf("level %s, reasons %q: want critical from a passage", r.Level, r.Reasons)
	}
	anCheckScore(t, r)
	without := strings.Replace(anBuriedThreat, "这几天我把存折和孩子的照片都整理好了，留给我妈，往后就不用再麻烦谁了。", "", 1)
	if r := ScoreRisk(RiskInput{Text: without, GroupSize: 1}); r.Level == Critical {
		t.Errorf("without the passage: critical (%q)", r.Reasons)
	}
}

// TestWindowMax: runs of k sentences are read only when there are more
// than k sentences, by logistic-regression models, for a known label; a
// run shorter than minRunes is not read.
func TestWindowMax(t *testing.T) {
	m, err := RiskModel()
	if err != nil {
		t.Fatal(err)
	}
	if p := m.WindowMax(anBuriedThreat, Critical, 3, 20); p < 0.8 || p > 1 {
		t.Errorf("WindowMax = %.3f, want a probability ≥ 0.8", p)
	}
	short := "工资拖了三个月。我们去问了几次。项目部说再等等。"
	for _, tt := range []struct {
		name string
		p    float64
	}{
		{"three sentences, runs of three", m.WindowMax(short, Critical, 3, 1)},
		{"unknown label", m.WindowMax(anBuriedThreat, "urgent", 3, 20)},
		{"k of 0", m.WindowMax(anBuriedThreat, Critical, 0, 20)},
		{"runs too short to read", m.WindowMax(anBuriedThreat, Critical, 3, 1000)},
		{"naive Bayes", anTrain(t, anTinyDocs, TrainOptions{Kind: "nb"}).WindowMax(anBuriedThreat, anTinyDocs[0].Label, 1, 1)},
	} {
		if tt.p != 0 {
			t.Errorf("%s: %.3f, want 0", tt.name, tt.p)
		}
	}
	// Runs of one sentence of a two-sentence text read each sentence as
	// Predict does (no feature is counted twice within one sentence).
	two := "我把存折和孩子的照片都整理好了，留给我妈。食堂的饭菜有点咸。"
	want := 0.0
	clauses(two, func(_ int, c string) {
		p := m.Predict(c)
		want = max(want, p.Probs[indexOf(m.Labels, Critical)])
	})
	if got := m.WindowMax(two, Critical, 1, 1); math.Abs(got-want) > 1e-6 {
		t.Errorf("WindowMax over single sentences %.6f, Predict %.6f", got, want)
	}
}

// anRuleRegexps are the expressions the risk rules run through findAllIn.
var anRuleRegexps = []*regexp.Regexp{selfHarmRE, violenceRE, meansRE, cueRE, disruptRE, massRE, timeRE, planRE,
	farRE, placeRE, authorityRE, mediaRE, repeatRE, emotionRE, benignRE, peopleRE, deniedRE, negationRE, pastRE}

// anPrefilterSound fails when a prefilter would skip a clause that one of
// the expression's alternatives matches.
func anPrefilterSound(t *testing.T, clause string) {
	t.Helper()
	for _, re := range anRuleRegexps {
		if re.MatchString(clause) && !prefilterOf(re).mayMatch(clause) {
			t.Fatalf("prefilter of %.40s… skips %q", re, clause)
		}
		for _, p := range partsOf(re) {
			if p.re.MatchString(clause) && !p.pf.mayMatch(clause) {
				t.Fatalf("prefilter of %.40s… skips %q", p.re, clause)
			}
		}
	}
}

// TestPrefiltersSound: on every clause of the corpus, a prefilter lets
// through every clause its expression matches.
func TestPrefiltersSound(t *testing.T) {
	ex, err := Corpus()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ex {
		clauses(Simplify(strings.Join(strings.Fields(e.FullText()), "")), func(_ int, c string) { anPrefilterSound(t, c) })
	}
	for _, tt := range anRiskCases {
		anPrefilterSound(t, tt.text)
	}
}

func FuzzPrefiltersSound(f *testing.F) {
	for _, tt := range anRiskCases {
		f.Add(tt.text)
	}
	f.Fuzz(func(t *testing.T, s string) { anPrefilterSound(t, s) })
}
