package config

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseStatus parses one StatusList item: a code such as "204" or an
// inclusive range such as "200-299". Codes must be 100..599.
func ParseStatus(item string) (lo, hi int, err error) {
	s := strings.TrimSpace(item)
	a, b, isRange := strings.Cut(s, "-")
	lo, err = parseCode(a)
	if err != nil {
		return 0, 0, fmt.Errorf("%q is not a status code or a range such as \"200-299\"", item)
	}
	hi = lo
	if isRange {
		hi, err = parseCode(b)
		if err != nil {
			return 0, 0, fmt.Errorf("%q is not a status code or a range such as \"200-299\"", item)
		}
	}
	if lo < 100 || hi > 599 {
		return 0, 0, fmt.Errorf("%q: status codes must be between 100 and 599", item)
	}
	if lo > hi {
		return 0, 0, fmt.Errorf("%q: range start is above its end", item)
	}
	return lo, hi, nil
}

func parseCode(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.ContainsAny(s, "+-") {
		return 0, fmt.Errorf("empty or signed code %q", s)
	}
	return strconv.Atoi(s)
}
