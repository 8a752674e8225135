//! A test transform for hot swaps whose vectors have 7 dimensions, not 8.
//! The logic is in tests/guests/swap/guest.rs.

const VERSION: &str = "v3";
const FAIL_INIT: bool = false;
const TRAP: bool = false;
const WRONG_DIM: bool = true;

include!("../../swap/guest.rs");
