//! The normal noise of a training step (the reparameterisation's eps), drawn so that a
//! batch split over several processes gets the numbers one process would draw for the
//! whole batch.
//!
//! libtorch's CPU normal generator fills a tensor in blocks of 16 values (Box-Muller over
//! pairs within a block), so the first rows of a larger draw are not a smaller draw of
//! the same seed. A process that holds rows `offset..offset + len` of a global batch of
//! `total` rows therefore draws the global block and keeps its rows ([`with_rows`]); a
//! single process draws exactly what it always did.
use std::cell::Cell;
use tch::{Kind, Tensor};

/// Where this thread's batch sits in the global batch: (offset, len, total) in images.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rows {
    pub offset: i64,
    pub len: i64,
    pub total: i64,
}

thread_local! {
    static ROWS: Cell<Option<Rows>> = const { Cell::new(None) };
}

/// Runs `body` with every draw of [`randn`] taken from the global batch `rows` describes.
pub fn with_rows<T>(rows: Rows, body: impl FnOnce() -> T) -> T {
    struct Restore(Option<Rows>);
    impl Drop for Restore {
        fn drop(&mut self) {
            ROWS.with(|r| r.set(self.0));
        }
    }
    let _restore = Restore(ROWS.with(|r| r.replace(Some(rows))));
    body()
}

/// Standard normal noise of `shape` (`[rows, ...]`, the batch's rows first, each image's
/// rows together when an image has several: `[b * k, ...]` as `repeat_interleave` makes).
/// Inside [`with_rows`], drawn for the whole global batch and cut to this batch's rows.
pub fn randn(shape: &[i64], options: (Kind, tch::Device)) -> Tensor {
    match ROWS.with(Cell::get) {
        Some(r) if r.total != r.len && r.len > 0 && shape[0] % r.len == 0 => {
            let per_image = shape[0] / r.len;
            let mut global = shape.to_vec();
            global[0] = r.total * per_image;
            Tensor::randn(&global, options).narrow(0, r.offset * per_image, shape[0])
        }
        _ => Tensor::randn(shape, options),
    }
}

/// [`randn`] shaped and placed like `like`.
pub fn randn_like(like: &Tensor) -> Tensor {
    randn(&like.size(), (like.kind(), like.device()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    const F: (Kind, Device) = (Kind::Float, Device::Cpu);

    #[test]
    fn split_batches_draw_the_whole_batchs_noise() {
        // Oracle: one draw for all 7 images (3 values each), seeded once.
        tch::manual_seed(5);
        let whole = Tensor::randn([7, 3], F);
        let mut parts = Vec::new();
        for (offset, len) in [(0, 4), (4, 3)] {
            tch::manual_seed(5);
            let rows = Rows {
                offset,
                len,
                total: 7,
            };
            parts.push(with_rows(rows, || randn(&[len, 3], F)));
        }
        assert!(Tensor::cat(&parts, 0).equal(&whole));
        // Two samples an image, image-major: rows 8..14 of a [14, 3] draw.
        tch::manual_seed(5);
        let whole_k = Tensor::randn([14, 3], F);
        tch::manual_seed(5);
        let rows = Rows {
            offset: 4,
            len: 3,
            total: 7,
        };
        let part = with_rows(rows, || randn(&[6, 3], F));
        assert!(part.equal(&whole_k.narrow(0, 8, 6)));
        // Outside: a plain draw, and the context is gone after the call.
        tch::manual_seed(5);
        assert!(randn(&[7, 3], F).equal(&whole));
    }

    #[test]
    fn a_prefix_of_a_larger_draw_is_not_a_smaller_draw() {
        // Why the module exists: libtorch's blocks of 16 make the first 4 rows of a
        // [7, 3] draw differ from a [4, 3] draw of the same seed.
        tch::manual_seed(5);
        let whole = Tensor::randn([7, 3], F);
        tch::manual_seed(5);
        let small = Tensor::randn([4, 3], F);
        assert!(!small.equal(&whole.narrow(0, 0, 4)));
    }
}
