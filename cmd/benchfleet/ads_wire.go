package main

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of the Envoy messages the watcher reads (envoy.config.
// endpoint.v3 and envoy.config.core.v3).
const (
	claClusterName   = 1 // ClusterLoadAssignment.cluster_name
	claEndpoints     = 2 // ClusterLoadAssignment.endpoints (LocalityLbEndpoints)
	localityLbEps    = 2 // LocalityLbEndpoints.lb_endpoints (LbEndpoint)
	lbEpEndpoint     = 1 // LbEndpoint.endpoint (Endpoint)
	lbEpHealthStatus = 2 // LbEndpoint.health_status (HealthStatus enum)
	epAddress        = 1 // Endpoint.address (Address)
	addrSocket       = 1 // Address.socket_address (SocketAddress)
	sockAddress      = 2 // SocketAddress.address
	sockPortValue    = 3 // SocketAddress.port_value
)

// wireEndpoint is what the watcher needs of one LbEndpoint. host aliases
// the message bytes.
type wireEndpoint struct {
	host   []byte
	port   uint32
	health int32
}

// scanAssignment walks an encoded ClusterLoadAssignment and calls fn for
// each endpoint, decoding nothing else (no metadata maps, no locality):
// the watcher shares the machine with vigil and must cost it little. It
// returns the cluster name.
func scanAssignment(b []byte, fn func(wireEndpoint)) (cluster string, err error) {
	err = eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		switch {
		case num == claClusterName && typ == protowire.BytesType:
			cluster = string(v)
		case num == claEndpoints && typ == protowire.BytesType:
			return eachField(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
				if num != localityLbEps || typ != protowire.BytesType {
					return nil
				}
				ep, err := scanLbEndpoint(v)
				if err == nil {
					fn(ep)
				}
				return err
			})
		}
		return nil
	})
	return cluster, err
}

func scanLbEndpoint(b []byte) (wireEndpoint, error) {
	var ep wireEndpoint
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
		switch {
		case num == lbEpHealthStatus && typ == protowire.VarintType:
			ep.health = int32(n)
		case num == lbEpEndpoint && typ == protowire.BytesType:
			return nested(v, []protowire.Number{epAddress, addrSocket}, func(sock []byte) error {
				return eachField(sock, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
					switch {
					case num == sockAddress && typ == protowire.BytesType:
						ep.host = v
					case num == sockPortValue && typ == protowire.VarintType:
						ep.port = uint32(n)
					}
					return nil
				})
			})
		}
		return nil
	})
	return ep, err
}

// nested finds the message at path (one field number per level) inside b
// and calls fn with it.
func nested(b []byte, path []protowire.Number, fn func([]byte) error) error {
	if len(path) == 0 {
		return fn(b)
	}
	return eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if num == path[0] && typ == protowire.BytesType {
			return nested(v, path[1:], fn)
		}
		return nil
	})
}

var errWire = errors.New("malformed protobuf")

// eachField calls fn for every field of the message in b: v for
// length-delimited fields, n for varints.
func eachField(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error) error {
	for len(b) > 0 {
		num, typ, k := protowire.ConsumeTag(b)
		if k < 0 {
			return fmt.Errorf("%w: tag: %v", errWire, protowire.ParseError(k))
		}
		b = b[k:]
		var v []byte
		var n uint64
		switch typ {
		case protowire.VarintType:
			n, k = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			v, k = protowire.ConsumeBytes(b)
		default:
			k = protowire.ConsumeFieldValue(num, typ, b)
		}
		if k < 0 {
			return fmt.Errorf("%w: field %d: %v", errWire, num, protowire.ParseError(k))
		}
		b = b[k:]
		if err := fn(num, typ, v, n); err != nil {
			return err
		}
	}
	return nil
}
