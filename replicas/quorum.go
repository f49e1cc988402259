package replicas

import "fmt"

// Quorum says how many of the voting replicas must see a probe failing for
// it to count as failed, and how many passing for it to recover.
type Quorum string

// Quorums.
const (
	// QuorumMajority: more than half fail it, more than half recover it.
	QuorumMajority Quorum = "majority"
	// QuorumAny: one replica fails it, all must pass it (a single vigil's behaviour).
	QuorumAny Quorum = "any"
	// QuorumAll: all must fail it, one passing recovers it.
	QuorumAll Quorum = "all"
)

// ParseQuorum reads a quorum name; empty means majority.
func ParseQuorum(s string) (Quorum, error) {
	switch q := Quorum(s); q {
	case "":
		return QuorumMajority, nil
	case QuorumMajority, QuorumAny, QuorumAll:
		return q, nil
	}
	return "", fmt.Errorf("replicas: unknown quorum %q (want majority, any or all)", s)
}

// thresholds returns how many of v voters must say failing (fail) and how
// many passing (recover) for the merged phase to be failing or passing.
func (q Quorum) thresholds(v int) (fail, recover int) {
	switch q {
	case QuorumAny:
		return 1, v
	case QuorumAll:
		return v, 1
	}
	return v/2 + 1, v/2 + 1
}
