package xds

import (
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/proto"
)

// holdAfterNACK keeps a state-of-the-world stream that rejected a response
// from getting the same response again. go-control-plane answers a NACK
// like any request (its issue 962): when the client holds no version yet,
// or one from an earlier vigil, the linear cache replies at once with
// everything the stream watches, the client rejects it again, and the pair
// loops at thousands of responses a second.
//
// The stream's subscription already records what was sent (the rejected
// resources and their versions), so the NACK is passed on as a request
// that holds a current version: the linear cache then answers only when a
// watched resource's content differs from what was rejected. Delta streams
// need nothing: their NACKs never force an answer.
type holdAfterNACK struct {
	cache.Cache
	// heldVersion carries the cache's version prefix, which is all the
	// linear cache checks before it compares the subscription's versions.
	heldVersion string
}

func newHoldAfterNACK(c cache.Cache, versionPrefix string) holdAfterNACK {
	return holdAfterNACK{Cache: c, heldVersion: versionPrefix + "rejected"}
}

func (c holdAfterNACK) CreateWatch(req *cache.Request, sub cache.Subscription, out chan cache.Response) (func(), error) {
	if req.GetErrorDetail() != nil {
		held := proto.Clone(req).(*cache.Request)
		held.VersionInfo = c.heldVersion
		req = held
	}
	return c.Cache.CreateWatch(req, sub, out)
}
