//! kubebake's shared library.
