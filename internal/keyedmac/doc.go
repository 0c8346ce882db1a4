// Package keyedmac hands out HMAC-SHA256 instances keyed once with one key.
//
// The bridge computes a keyed MAC for every value it pseudonymizes (the PHI
// guard) and for every subject key and field digest (intake and dispatch),
// several per record. crypto/hmac.New hashes the two padded key blocks and
// allocates on every call; a MAC keyed once and cloned (FIPS 198-1 allows
// keeping these intermediate values) skips both, and a pool of reset clones
// skips the clone's allocations too.
//
// The keyed state is as secret as the key. A [Pool] therefore renders in fmt
// and slog as a placeholder, and [Pool.Put] resets a MAC before pooling it
// (its state holds the end of the last input, which may be a field value).
// A MAC from [Pool.Get] gives exactly what hmac.New(sha256.New, key) gives.
package keyedmac
