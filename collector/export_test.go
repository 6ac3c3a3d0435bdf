package collector

// WithHint is withHint, for the tests of the hint table.
var WithHint = withHint

// BackgroundReaders counts the goroutines of background readers in this
// process.
var BackgroundReaders = readerGoroutines
