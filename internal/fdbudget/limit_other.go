//go:build !unix

package fdbudget

import "errors"

// ProcessLimit is not known outside Unix systems.
func ProcessLimit() (soft, hard int, err error) {
	return 0, 0, errors.New("open-file limit: not available on this platform")
}
