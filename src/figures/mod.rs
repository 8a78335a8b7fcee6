//! Figures: the image grids drawn from a trained model ([`grids`]), the PNG encoder they
//! share ([`images`]) and the SVG plots of metrics ([`plot`]).
mod grids;
pub mod images;
pub mod plot;

pub use grids::*;
