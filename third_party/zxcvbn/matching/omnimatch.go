package matching

import (
	"regexp"
	"runtime"
	"sync"
	"weak"

	"github.com/trustelem/zxcvbn/internal/lazy"

	"github.com/trustelem/zxcvbn/adjacency"
	"github.com/trustelem/zxcvbn/frequency"
	"github.com/trustelem/zxcvbn/match"
)

func Omnimatch(password string, userInputs []string) (matches []*match.Match) {
	dicts := defaultRankedDictionnaries()
	defer runtime.KeepAlive(dicts)
	dictMatcher := dicts.withDict("user_inputs", buildRankedDict(userInputs))

	matchers := []match.Matcher{
		dictMatcher,
		reverseDictionnaryMatch{dm: dictMatcher},
		l33tMatch{dm: dictMatcher, table: l33tTable()},
		spatialMatch{graphs: defaultGraphs()},
		repeatMatch{},
		sequenceMatch{},
		regexpMatch{regexes: defaultRegexpMatch()},
		dateMatch{},
	}

	for _, m := range matchers {
		matches = append(matches, m.Matches(password)...)
	}
	match.Sort(matches)
	return matches
}

// Patched for toyhub: the ranked dictionaries (about 10 MB) are built
// when a password is first checked, not at every program's start, and are
// let go once no check uses them: a weak pointer keeps them only until
// the collector wants the memory, and the next check builds them again.
var dictionaries struct {
	mu sync.Mutex
	p  weak.Pointer[dictionaryMatch]
}

func defaultRankedDictionnaries() *dictionaryMatch {
	dictionaries.mu.Lock()
	defer dictionaries.mu.Unlock()
	if d := dictionaries.p.Value(); d != nil {
		return d
	}
	d := loadDefaultDictionnaries()
	dictionaries.p = weak.Make(&d)
	return &d
}

// Patched for toyhub: built on first use (see ../PATCHED.md).

func loadDefaultDictionnaries() dictionaryMatch {
	rd := make(map[string]rankedDictionnary)
	for n, list := range frequency.Lists() {
		rd[n] = buildRankedDict(list)
	}
	return dictionaryMatch{
		rankedDictionaries: rd,
	}
}

func loadDefaultAdjacencyGraphs() []*adjacency.Graph {
	return []*adjacency.Graph{
		adjacency.Graphs()["qwerty"],
		adjacency.Graphs()["dvorak"],
		adjacency.Graphs()["keypad"],
		adjacency.Graphs()["mac_keypad"],
	}

}

var defaultGraphsLazy lazy.Value[[]*adjacency.Graph]

func defaultGraphs() []*adjacency.Graph {
	return defaultGraphsLazy.Get(loadDefaultAdjacencyGraphs)
}

type namedRegexp = struct {
	Name   string
	Regexp *regexp.Regexp
}

var defaultRegexpMatchLazy lazy.Value[[]namedRegexp]

func defaultRegexpMatch() []namedRegexp {
	return defaultRegexpMatchLazy.Get(func() []namedRegexp {
		return []namedRegexp{{Name: "recent_year", Regexp: regexp.MustCompile(`19\d\d|200\d|201\d`)}}
	})
}

var l33tTableLazy lazy.Value[map[string][]string]

func l33tTable() map[string][]string {
	return l33tTableLazy.Get(func() map[string][]string {
		return map[string][]string{
			"a": {"4", "@"},
			"b": {"8"},
			"c": {"(", "{", "[", "<"},
			"e": {"3"},
			"g": {"6", "9"},
			"i": {"1", "!", "|"},
			"l": {"1", "|", "7"},
			"o": {"0"},
			"s": {"$", "5"},
			"t": {"+", "7"},
			"x": {"%"},
			"z": {"2"},
		}
	})
}
