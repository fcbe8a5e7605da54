package ledger

// Right is an action a grant can permit, from a fixed vocabulary aligned
// with ODRL's actions.
type Right string

// The rights.
const (
	RightUse           Right = "use"
	RightReproduce     Right = "reproduce"
	RightModify        Right = "modify"
	RightDerive        Right = "derive"
	RightDistribute    Right = "distribute"
	RightSublicense    Right = "sublicense"
	RightCommercialize Right = "commercialize"
	RightTrain         Right = "train"
	RightEvaluate      Right = "evaluate"
	RightHost          Right = "host"
)

// Rights lists every right in a fixed order.
var Rights = []Right{
	RightUse, RightReproduce, RightModify, RightDerive, RightDistribute,
	RightSublicense, RightCommercialize, RightTrain, RightEvaluate, RightHost,
}

// Valid reports whether r is in the vocabulary.
func (r Right) Valid() bool {
	for _, x := range Rights {
		if x == r {
			return true
		}
	}
	return false
}

// Prohibition is a use restriction. A prohibition beats any permission
// (ODRL's "prohibit" conflict strategy): a use that matches it is denied
// whatever grant would otherwise allow it. An empty list matches
// everything on its axis, so {Purposes: ["military"]} forbids every action
// for a military purpose.
type Prohibition struct {
	Purposes   []string `json:"purposes,omitempty"`
	Industries []string `json:"industries,omitempty"`
	Actions    []Right  `json:"actions,omitempty"`
	Note       string   `json:"note,omitempty"` // why, in words
}
