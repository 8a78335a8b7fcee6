//! Figures: the image grids drawn from a trained model (`grids`), the PNG encoder they
//! share (`images`) and the SVG plots of metrics (`plot`).
mod grids;
pub(crate) mod images;
pub(crate) mod plot;

pub use grids::*;
