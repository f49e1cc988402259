package dialect

import (
	"strconv"
	"unicode/utf8"
)

// What one verdict keeps of a response, whatever the response holds. A
// verdict is kept in each probe's history (membership.HistorySize deep),
// in the instance's reason and in events, so a body listing a hundred
// thousand failing checks must not become a hundred thousand components
// in each of those places: memory per instance stays bounded.
const (
	MaxComponents   = 32  // components kept per result; one more says how many were left out
	MaxReasonBytes  = 512 // a reason longer than this is cut, ending in "…"
	maxNameBytes    = 128 // a component's name, status and message are cut likewise
	maxStatusBytes  = 64
	maxMessageBytes = 256
)

// ellipsis ends a cut text.
const ellipsis = "…"

// cut returns b shortened to at most max bytes including the ellipsis the
// caller adds when cut is true, at a rune boundary.
func cut(b []byte, max int) (kept []byte, isCut bool) {
	if len(b) <= max {
		return b, false
	}
	n := max - len(ellipsis)
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	return b[:n], true
}

// text is kept (and the ellipsis when cut) as a string.
func text(kept []byte, isCut bool) string {
	if isCut {
		return string(kept) + ellipsis
	}
	return string(kept)
}

// sameText reports whether s is what text(kept, isCut) would return,
// without allocating.
func sameText(s string, kept []byte, isCut bool) bool {
	if !isCut {
		return s == string(kept)
	}
	return len(s) == len(kept)+len(ellipsis) && s[len(kept):] == ellipsis && s[:len(kept)] == string(kept)
}

// appendCapped appends s to the reason being built, stopping one byte past
// MaxReasonBytes: enough for finish to know the reason must be cut.
func appendCapped[T string | []byte](reason []byte, s T) []byte {
	room := MaxReasonBytes + 1 - len(reason)
	if room <= 0 {
		return reason
	}
	if len(s) > room {
		s = s[:room]
	}
	return append(reason, s...)
}

// capReason cuts a reason over MaxReasonBytes, ending it in "…".
func capReason(reason []byte) []byte {
	kept, isCut := cut(reason, MaxReasonBytes)
	if isCut {
		return append(kept, ellipsis...)
	}
	return reason
}

// clipReason is capReason for a reason built as a string.
func clipReason(s string) string {
	if len(s) <= MaxReasonBytes {
		return s
	}
	return string(capReason([]byte(s)))
}

// moreComponents is the component that stands for the n left out.
func moreComponents(dst []byte, n int) []byte {
	dst = strconv.AppendInt(dst[:0], int64(n), 10)
	return append(dst, " more components not kept"...)
}

// The component that says how many were left out: "…" "omitted" "N more
// components not kept".
var (
	omittedName   = []byte(ellipsis)
	omittedStatus = []byte("omitted")
)
