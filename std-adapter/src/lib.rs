//! Work in progress: the std adapter (see issue 3).
