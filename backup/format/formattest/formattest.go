// Package formattest holds test data for the backup format's tests and
// backup's: content shaped like what Bitnobi stores.
package formattest

import (
	"bytes"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
)

// SampleCSV returns n bytes of CSV shaped like an uploaded data set.
func SampleCSV(n int) []byte {
	var b bytes.Buffer
	r := mrand.New(mrand.NewPCG(1, 1))
	orgs := []string{"Bitnobi", "Acme Corp", "University of Somewhere", "Hospital North", "Ministry"}
	deps := []string{"IT", "Research", "Finance", "HR", "Operations", "Sales"}
	first := []string{"Alice", "Bob", "Carol", "Dave", "Eve", "Frank", "Grace", "Heidi", "Ivan", "Judy"}
	b.WriteString("id,name,organization,department,age,salary,joined,score\n")
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "%d,%s %c.,%s,%s,%d,%d.%02d,2018-%02d-%02d,%.4f\n", i+1, first[r.IntN(len(first))], 'A'+r.IntN(26),
			orgs[r.IntN(len(orgs))], deps[r.IntN(len(deps))], 20+r.IntN(45), 30000+r.IntN(90000), r.IntN(100), 1+r.IntN(12), 1+r.IntN(28), r.Float64()*100)
	}
	return b.Bytes()[:n]
}

// RandomBytes returns n random bytes, which do not compress.
func RandomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
