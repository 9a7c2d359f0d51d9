package adjacency

import "github.com/trustelem/zxcvbn/internal/lazy"

type Graph struct {
	Graph         map[string][]string
	Name          string
	AverageDegree float64
}

// Graphs returns the adjacency graphs by name.
//
// Patched for toyhub: built on first use rather than at every program's
// start (see ../PATCHED.md).

func calculateAvgDegree(g map[string][]string) float64 {
	var avg float64
	for _, value := range g {
		for _, chars := range value {
			if chars != "" {
				avg += float64(1)
			}
		}

	}

	return avg / float64(len(g))
}

var GraphsLazy lazy.Value[map[string]*Graph]

func Graphs() map[string]*Graph {
	return GraphsLazy.Get(func() map[string]*Graph {
		graphs := make(map[string]*Graph)
		for name, data := range map[string]map[string][]string{
			"qwerty": adjacencyGraphQwerty(), "dvorak": adjacencyGraphDvorak(),
			"keypad": adjacencyGraphKeypad(), "mac_keypad": adjacencyGraphMacKeypad(),
		} {
			graphs[name] = &Graph{Name: name, Graph: data, AverageDegree: calculateAvgDegree(data)}
		}
		return graphs
	})
}
