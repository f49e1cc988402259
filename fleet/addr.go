package fleet

import (
	"fmt"
	"net/netip"
	"strconv"
)

// listenAddress is where instance i of spec listens: the base host advanced
// by i/PerHost addresses, on Port+i%PerHost (or port 0).
func listenAddress(spec Spec, i int) (string, error) {
	base, err := netip.ParseAddr(spec.Host)
	if err != nil || !base.Is4() {
		return "", fmt.Errorf("fleet: host %q is not an IPv4 address", spec.Host)
	}
	b := base.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += uint32(i / spec.PerHost)
	ip := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	if !netip.MustParsePrefix("127.0.0.0/8").Contains(ip) {
		return "", fmt.Errorf("fleet: instance %d would listen on %s, outside 127.0.0.0/8 (base %s, %d per host)", i, ip, spec.Host, spec.PerHost)
	}
	port := 0
	if spec.Port > 0 {
		port = spec.Port + i%spec.PerHost
	}
	return netip.AddrPortFrom(ip, uint16(port)).String(), nil
}

// instanceID is the ID of instance i.
func instanceID(spec Spec, i int) string { return spec.IDPrefix + strconv.Itoa(i) }
