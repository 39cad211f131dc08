package seed

import (
	"io"
	"math/rand/v2"
	"strconv"
	"time"
)

// A csvKind is the shape of one family of uploaded files: its columns
// and how a row is made. The columns are what workflow templates select,
// group and join on, so generated workflows run on generated files.
type csvKind struct {
	name    string   // file-name stem: sales, visits, payments, survey
	columns []string // header
	// key is a column with few distinct values (keyValues), for
	// group-by and joins; num a column holding a decimal number, for
	// sums; cat another categorical column; date the row's date.
	key, num, cat, date string
	keyValues           []string // the values of key
	row                 func(g *csvGen, buf []byte) []byte
}

// Small vocabularies: real uploads repeat a few hundred distinct names,
// places and labels, which is why CSV compresses 3-5x.
var (
	firstNames = []string{"Ada", "Alan", "Alice", "Amara", "Ana", "Anders", "Aniket", "Anna", "Arjun", "Ayesha",
		"Ben", "Bob", "Carla", "Carol", "Chen", "Chloe", "Dan", "Daria", "David", "Diego", "Elena", "Emma", "Eric",
		"Fatima", "Femi", "Grace", "Hana", "Hugo", "Ines", "Ivan", "Jamal", "Jana", "Jonas", "Julia", "Kai", "Kenji",
		"Laura", "Lea", "Leo", "Lina", "Luca", "Maria", "Marta", "Mei", "Mohammed", "Nadia", "Nina", "Noah", "Olga",
		"Omar", "Paul", "Priya", "Rafael", "Rosa", "Sam", "Sara", "Sofia", "Tariq", "Tom", "Vera", "Wei", "Yara", "Yusuf", "Zoe"}
	lastNames = []string{"Adams", "Ahmed", "Andersen", "Bauer", "Bianchi", "Brown", "Chen", "Costa", "Dubois", "Fischer",
		"Garcia", "Gonzalez", "Hansen", "Hoffmann", "Ivanova", "Jansen", "Johnson", "Kim", "Kowalski", "Lee", "Lopez",
		"Martin", "Meyer", "Moreau", "Muller", "Nguyen", "Novak", "Okafor", "Olsen", "Patel", "Petrov", "Rossi",
		"Santos", "Schmidt", "Silva", "Singh", "Smith", "Tanaka", "Taylor", "Wagner", "Wang", "Weber", "Williams", "Wong", "Yilmaz"}
	organizations = []string{"Bitnobi", "Acme", "Globex", "Initech", "Umbrella Health", "Stark Research", "Wayne Foundation",
		"Tyrell Labs", "Cyberdyne", "Hooli", "Vandelay Imports", "Nordic Data Coop"}
	departments = []string{"IT", "Research", "Finance", "Sales", "Marketing", "Operations", "Legal", "HR", "Clinical", "Support"}
	countries   = []string{"DE", "FR", "NL", "BE", "DK", "SE", "NO", "FI", "ES", "IT", "PT", "PL", "CZ", "AT", "CH", "GB", "IE", "US", "CA", "JP"}
	regions     = []string{"north", "south", "east", "west", "central", "capital", "coastal", "mountain"}
	products    = []string{"widget", "gadget", "sprocket", "gizmo", "flange", "bracket", "valve", "sensor", "cable", "adapter",
		"controller", "module", "panel", "battery", "charger", "router", "switch", "license", "support plan", "training"}
	categories = []string{"hardware", "software", "services", "consumables", "spare parts", "subscriptions"}
	statuses   = []string{"shipped", "shipped", "shipped", "delivered", "delivered", "pending", "cancelled", "returned"}
	currencies = []string{"EUR", "EUR", "EUR", "USD", "GBP", "DKK", "SEK", "CHF"}
	diagnoses  = []string{"hypertension", "type 2 diabetes", "asthma", "migraine", "influenza", "fracture", "allergy",
		"bronchitis", "anaemia", "back pain", "dermatitis", "otitis", "sinusitis", "gastritis", "depression", "anxiety"}
	units     = []string{"mmHg", "mmol/L", "kg", "bpm", "%", "mg/dL"}
	txTypes   = []string{"transfer", "card", "card", "card", "direct debit", "standing order", "cash", "fee", "interest"}
	channels  = []string{"web", "mobile", "mobile", "branch", "atm", "api"}
	questions = []string{"How satisfied are you with the service?", "How likely are you to recommend us?", "How easy was the process?",
		"How well were your questions answered?", "How do you rate the value for money?", "How clear was the documentation?"}
	comments = []string{"", "", "", "", "great service", "too slow", "friendly staff", "could be cheaper", "no comment",
		"documentation was unclear", "will recommend", "had to call twice", "very helpful", "website kept timing out", "ok"}
)

var csvKinds = []*csvKind{
	{
		name:    "sales",
		columns: []string{"order_id", "order_date", "customer", "organization", "country", "product", "category", "quantity", "unit_price", "amount", "currency", "status"},
		key:     "organization", num: "amount", cat: "product", date: "order_date", keyValues: organizations,
		row: func(g *csvGen, b []byte) []byte {
			b = g.id(b)
			b = g.day(b)
			b = g.person(b)
			b = g.pick(b, organizations)
			b = g.pick(b, countries)
			p := g.r.IntN(len(products))
			b = append(b, products[p]...)
			b = append(b, ',')
			b = append(b, categories[p%len(categories)]...)
			b = append(b, ',')
			q := 1 + g.r.IntN(20)
			b = strconv.AppendInt(b, int64(q), 10)
			b = append(b, ',')
			price := int64(100*(5+p*7)) + int64(g.r.IntN(100)) // cents
			b = cents(b, price)
			b = append(b, ',')
			b = cents(b, price*int64(q))
			b = append(b, ',')
			b = g.pick(b, currencies)
			return g.last(b, statuses)
		},
	},
	{
		name:    "visits",
		columns: []string{"record_id", "visit_date", "patient_id", "first_name", "last_name", "sex", "birth_year", "region", "diagnosis", "measurement", "unit", "clinician"},
		key:     "region", num: "measurement", cat: "diagnosis", date: "visit_date", keyValues: regions,
		row: func(g *csvGen, b []byte) []byte {
			b = g.id(b)
			b = g.day(b)
			b = append(b, 'P')
			b = strconv.AppendInt(b, int64(100000+g.r.IntN(20000)), 10)
			b = append(b, ',')
			b = g.pick(b, firstNames)
			b = g.pick(b, lastNames)
			if g.r.IntN(2) == 0 {
				b = append(b, "F,"...)
			} else {
				b = append(b, "M,"...)
			}
			b = strconv.AppendInt(b, int64(1935+g.r.IntN(85)), 10)
			b = append(b, ',')
			b = g.pick(b, regions)
			d := g.r.IntN(len(diagnoses))
			b = append(b, diagnoses[d]...)
			b = append(b, ',')
			b = strconv.AppendInt(b, int64(40+g.r.IntN(160)), 10)
			b = append(b, '.')
			b = strconv.AppendInt(b, int64(g.r.IntN(10)), 10)
			b = append(b, ',')
			b = append(b, units[d%len(units)]...)
			b = append(b, ",Dr "...)
			return append(append(b, lastNames[g.r.IntN(12)]...), '\n')
		},
	},
	{
		name:    "payments",
		columns: []string{"tx_id", "booked_at", "account", "counterparty", "type", "amount", "currency", "branch", "channel"},
		key:     "channel", num: "amount", cat: "type", date: "booked_at", keyValues: channels,
		row: func(g *csvGen, b []byte) []byte {
			b = g.id(b)
			b = g.stamp(b)
			b = append(b, "DE"...)
			b = strconv.AppendInt(b, int64(10+g.r.IntN(80)), 10)
			b = append(b, "5001"...)
			b = strconv.AppendInt(b, int64(1000000+g.r.IntN(5000)), 10)
			b = append(b, ',')
			b = g.pick(b, organizations)
			b = g.pick(b, txTypes)
			if g.r.IntN(3) == 0 {
				b = append(b, '-')
			}
			b = cents(b, int64(g.r.IntN(50000)+g.r.IntN(100)*g.r.IntN(100)))
			b = append(b, ',')
			b = g.pick(b, currencies)
			b = g.pick(b, regions)
			return g.last(b, channels)
		},
	},
	{
		name:    "survey",
		columns: []string{"response_id", "submitted_at", "respondent", "organization", "department", "postcode", "question", "score", "duration_s", "comment"},
		key:     "department", num: "score", cat: "organization", date: "submitted_at", keyValues: departments,
		row: func(g *csvGen, b []byte) []byte {
			b = g.id(b)
			b = g.day(b)
			b = g.person(b)
			b = g.pick(b, organizations)
			b = g.pick(b, departments)
			b = strconv.AppendInt(b, int64(10000+g.r.IntN(90000)), 10)
			b = append(b, ',', '"')
			b = append(b, questions[g.r.IntN(len(questions))]...)
			b = append(b, '"', ',')
			b = strconv.AppendInt(b, int64(1+g.r.IntN(10)), 10)
			b = append(b, ',')
			b = strconv.AppendInt(b, int64(20+g.r.IntN(1800)), 10)
			b = append(b, ',')
			return g.last(b, comments)
		},
	},
}

// csvGen writes one CSV file of a kind, about size bytes long (whole rows:
// it stops after the first row that reaches size), from its own random
// stream, so that the same seed gives the same bytes.
type csvGen struct {
	kind *csvKind
	r    *rand.Rand
	size int64
	seq  int64 // row id
	date time.Time
	dayS []byte // date formatted as 2006-01-02
}

func newCSVGen(kind *csvKind, seed1, seed2 uint64, size int64, start time.Time) *csvGen {
	r := rand.New(rand.NewPCG(seed1, seed2))
	g := &csvGen{kind: kind, r: r, size: size, seq: int64(1 + r.IntN(900000)), date: start}
	g.dayS = start.AppendFormat(nil, "2006-01-02")
	return g
}

// WriteTo writes the whole file to w in chunks of about 256 KiB.
func (g *csvGen) WriteTo(w io.Writer) (int64, error) {
	const chunk = 256 << 10
	buf := make([]byte, 0, chunk+4096)
	for i, c := range g.kind.columns {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, c...)
	}
	buf = append(buf, '\n')
	var total int64
	for {
		for len(buf) < chunk && total+int64(len(buf)) < g.size {
			buf = g.kind.row(g, buf)
		}
		n, err := w.Write(buf)
		total += int64(n)
		if err != nil {
			return total, err
		}
		if total >= g.size {
			return total, nil
		}
		buf = buf[:0]
	}
}

func (g *csvGen) id(b []byte) []byte {
	g.seq++
	b = strconv.AppendInt(b, g.seq, 10)
	return append(b, ',')
}

// day writes a date that moves forward slowly, as in an export sorted by
// date.
func (g *csvGen) day(b []byte) []byte {
	if g.r.IntN(40) == 0 {
		g.date = g.date.AddDate(0, 0, 1)
		g.dayS = g.date.AppendFormat(g.dayS[:0], "2006-01-02")
	}
	b = append(b, g.dayS...)
	return append(b, ',')
}

// stamp writes a timestamp that moves forward by a few seconds a row.
func (g *csvGen) stamp(b []byte) []byte {
	old := g.date
	g.date = g.date.Add(time.Duration(1+g.r.IntN(90)) * time.Second)
	if g.date.YearDay() != old.YearDay() {
		g.dayS = g.date.AppendFormat(g.dayS[:0], "2006-01-02")
	}
	b = append(b, g.dayS...)
	h, m, s := g.date.Clock()
	return append(b, 'T', byte('0'+h/10), byte('0'+h%10), ':', byte('0'+m/10), byte('0'+m%10), ':', byte('0'+s/10), byte('0'+s%10), 'Z', ',')
}

func (g *csvGen) person(b []byte) []byte {
	b = append(b, firstNames[g.r.IntN(len(firstNames))]...)
	b = append(b, ' ')
	b = append(b, lastNames[g.r.IntN(len(lastNames))]...)
	return append(b, ',')
}

func (g *csvGen) pick(b []byte, from []string) []byte {
	b = append(b, from[g.r.IntN(len(from))]...)
	return append(b, ',')
}

func (g *csvGen) last(b []byte, from []string) []byte {
	b = append(b, from[g.r.IntN(len(from))]...)
	return append(b, '\n')
}

// cents writes an amount in cents as a decimal with two places.
func cents(b []byte, c int64) []byte {
	b = strconv.AppendInt(b, c/100, 10)
	b = append(b, '.')
	c %= 100
	return append(b, byte('0'+c/10), byte('0'+c%10))
}

// WriteCSV writes about size bytes of a CSV file like those the seed
// uploads (its kind and content chosen by seed) to w. Benchmarks use it
// for realistic, compressible input.
func WriteCSV(w io.Writer, seed uint64, size int64) (int64, error) {
	kind := csvKinds[seed%uint64(len(csvKinds))]
	return newCSVGen(kind, seed, seed, size, DefaultStart).WriteTo(w)
}
