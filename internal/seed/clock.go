package seed

import (
	"math/rand/v2"
	"sync"
	"time"
)

// clock is the simulated time the seeded installation lives in. It is
// installed as the database's clock (store.DB.Now), so every record's
// times come from it: each reading moves it forward by about step (between
// half and one and a half steps, from its own random stream). The
// readings happen in a fixed order, so the same seed gives the same times.
type clock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
	r    *rand.Rand
}

func newClock(start time.Time, seed uint64) *clock {
	return &clock{t: start.UTC(), step: time.Minute, r: rand.New(rand.NewPCG(seed, 0x636c6f636b))}
}

// Now advances the clock and returns the new time.
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(c.step/2 + time.Duration(c.r.Int64N(int64(c.step)+1)))
	return c.t
}

// peek returns the time without advancing it.
func (c *clock) peek() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// setStep sets the mean time between readings.
func (c *clock) setStep(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.step = d
}

// advanceTo moves the clock to t if t is later.
func (c *clock) advanceTo(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.t) {
		c.t = t
	}
}
