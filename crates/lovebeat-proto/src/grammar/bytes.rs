//! [`Bytes`], the input every parser of the grammar reads: a `&[u8]` whose
//! nom [`Input`] methods inline.
//!
//! nom 8 implements `Input` for `&[u8]` itself, but without `#[inline]` on
//! `take_from`, which every `tag`, `take_while1` and `take_till` calls: from
//! another crate each one was a function call, and a line took about a
//! quarter more instructions. The methods here do the same on the same slice.

use std::iter::{Copied, Enumerate};
use std::slice::Iter;

use nom::{Compare, CompareResult, Input, Needed};

/// A byte slice to parse; `.0` is what is left of it, or what a parser took.
#[derive(Debug, Clone, Copy)]
pub(super) struct Bytes<'a>(pub(super) &'a [u8]);

impl<'a> Input for Bytes<'a> {
    type Item = u8;
    type Iter = Copied<Iter<'a, u8>>;
    type IterIndices = Enumerate<Self::Iter>;

    #[inline]
    fn input_len(&self) -> usize {
        self.0.len()
    }

    #[inline]
    fn take(&self, index: usize) -> Self {
        Bytes(&self.0[..index])
    }

    #[inline]
    fn take_from(&self, index: usize) -> Self {
        Bytes(&self.0[index..])
    }

    #[inline]
    fn take_split(&self, index: usize) -> (Self, Self) {
        let (prefix, suffix) = self.0.split_at(index);
        (Bytes(suffix), Bytes(prefix))
    }

    #[inline]
    fn position<P>(&self, predicate: P) -> Option<usize>
    where
        P: Fn(u8) -> bool,
    {
        self.0.iter().position(|&b| predicate(b))
    }

    #[inline]
    fn iter_elements(&self) -> Self::Iter {
        self.0.iter().copied()
    }

    #[inline]
    fn iter_indices(&self) -> Self::IterIndices {
        self.iter_elements().enumerate()
    }

    #[inline]
    fn slice_index(&self, count: usize) -> Result<usize, Needed> {
        if self.0.len() >= count {
            Ok(count)
        } else {
            Err(Needed::new(count - self.0.len()))
        }
    }
}

impl Compare<&str> for Bytes<'_> {
    #[inline]
    fn compare(&self, tag: &str) -> CompareResult {
        let tag = tag.as_bytes();
        if self.0.starts_with(tag) {
            CompareResult::Ok
        } else if tag.starts_with(self.0) {
            CompareResult::Incomplete
        } else {
            CompareResult::Error
        }
    }

    #[inline]
    fn compare_no_case(&self, tag: &str) -> CompareResult {
        self.0.compare_no_case(tag)
    }
}
