package replicas

import (
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/vigilhq/vigil/membership"
)

// The verdict stream is NDJSON, one line per message:
//
//	{"t":"hello","id":"vigil-a","epoch":"…","proto":1}   first, once
//	{"t":"m","c":"web","i":"10.0.0.1:80","v":{…},"s":"HEALTHY","r":"…","since":"…"}
//	{"t":"end"}                                            after the snapshot's members
//	{"t":"x","c":"web","i":"10.0.0.1:80"}                  an instance left
//	{"t":"xc","c":"web"}                                   a cluster left
//	{"t":"hb"}                                             heartbeat
//
// "m" carries one member of the sender's own store (its own verdict), in
// the snapshot and afterwards whenever it changes; "a" (the address) is
// left out when it equals the instance ID.
const (
	lineHello       = "hello"
	lineMember      = "m"
	lineEnd         = "end"
	lineGone        = "x"
	lineClusterGone = "xc"
	lineHeartbeat   = "hb"

	protoVersion = 1
	// maxReason bounds the reason carried per member, so a transition costs
	// a few hundred bytes whatever a probe answered.
	maxReason = 400
	// maxLine bounds one line a peer may send.
	maxLine = 64 << 10
)

// line is one message of the verdict stream.
type line struct {
	T       string             `json:"t"`
	ID      string             `json:"id,omitempty"`
	Epoch   string             `json:"epoch,omitempty"`
	Proto   int                `json:"proto,omitempty"`
	Cluster string             `json:"c,omitempty"`
	Inst    string             `json:"i,omitempty"`
	Addr    string             `json:"a,omitempty"`
	Verdict membership.Verdict `json:"v,omitzero"`
	Status  membership.Status  `json:"s,omitzero"`
	Reason  string             `json:"r,omitempty"`
	Since   time.Time          `json:"since,omitzero"`
}

// peerMember is what a replica knows of one instance from one peer.
type peerMember struct {
	addr    string
	verdict membership.Verdict
	status  membership.Status
	reason  string
	since   time.Time
}

// memberKey names an instance across stores.
type memberKey struct{ cluster, id string }

// compact is what the stream carries of a member.
func compact(m *membership.Member) peerMember {
	return peerMember{addr: m.Address, verdict: m.Verdict, status: m.Status, reason: truncate(m.Reason, maxReason), since: m.Since}
}

// same reports whether two members would be sent as the same line.
func (p peerMember) same(o peerMember) bool {
	return p.addr == o.addr && p.verdict == o.verdict && p.status == o.status && p.reason == o.reason && p.since.Equal(o.since)
}

func memberLine(cluster, id string, p peerMember) line {
	l := line{T: lineMember, Cluster: cluster, Inst: id, Verdict: p.verdict, Status: p.status, Reason: p.reason, Since: p.since}
	if p.addr != id {
		l.Addr = p.addr
	}
	return l
}

// member reads an "m" line back.
func (l *line) member() (memberKey, peerMember, error) {
	if l.Cluster == "" || l.Inst == "" {
		return memberKey{}, peerMember{}, fmt.Errorf("member line without cluster or instance")
	}
	addr := l.Addr
	if addr == "" {
		addr = l.Inst
	}
	return memberKey{l.Cluster, l.Inst}, peerMember{addr: addr, verdict: l.Verdict, status: l.Status, reason: l.Reason, since: l.Since}, nil
}

func encodeLine(l line) []byte {
	b, err := json.Marshal(l)
	if err != nil { // only the types above go in; they always encode
		panic(fmt.Sprintf("replicas: encode %s line: %v", l.T, err))
	}
	return append(b, '\n')
}

func decodeLine(b []byte) (line, error) {
	var l line
	if err := json.Unmarshal(b, &l); err != nil {
		return line{}, fmt.Errorf("malformed line: %w", err)
	}
	if l.T == "" {
		return line{}, fmt.Errorf("line without a type")
	}
	return l, nil
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
