package collector

// WithHint is withHint, for the tests of the hint table.
var WithHint = withHint
