//! Windows onto NHWC feature maps (batch 1), so that spatial kernels can compute any rectangle of
//! their output from any rectangle of their input that covers it. The layer-by-layer executor
//! passes whole maps; the fused executor passes tiles.

use crate::Error;

/// A rectangle of an `full_h x full_w x c` feature map held in a buffer, possibly a ring.
///
/// The buffer holds `row_slots x col_slots` pixel slots, `row_stride` elements between slot
/// rows, each pixel's `c` channels contiguous. Pixel `(y, x)` of the full map, for
/// `row0 <= y < row0 + rows` and `col0 <= x < col0 + cols`, is in slot row
/// `(row_slot0 + y - row0) mod row_slots` and slot column `(col_slot0 + x - col0) mod
/// col_slots`: a ring (the fused executor's rings) wraps, a plain tile has `row_slot0 =
/// col_slot0 = 0`, `row_slots = rows`, `col_slots = cols`. A whole map is a tile with
/// `row0 = col0 = 0`, `rows = full_h`, `cols = full_w`, `row_stride = full_w * c`. Kernels see
/// pixels only through [`InView::pixel`], so a window that wraps around its ring needs no copy.
#[derive(Debug, Clone, Copy)]
pub struct InView<'a, T> {
    pub data: &'a [T],
    pub full_h: usize,
    pub full_w: usize,
    pub c: usize,
    pub row0: usize,
    pub rows: usize,
    pub col0: usize,
    pub cols: usize,
    /// Elements between the starts of two consecutive slot rows of `data` (at least
    /// `col_slots * c`).
    pub row_stride: usize,
    pub row_slot0: usize,
    pub row_slots: usize,
    pub col_slot0: usize,
    pub col_slots: usize,
}

impl<'a, T> InView<'a, T> {
    /// The whole `h x w x c` map stored densely in `data`.
    pub fn whole(data: &'a [T], h: usize, w: usize, c: usize) -> Self {
        Self::tile(data, h, w, c, (0, h), (0, w), w * c)
    }

    /// Rows `rows.0 .. rows.0 + rows.1` and columns `cols.0 .. cols.0 + cols.1` of the map,
    /// stored as a plain (non-wrapping) tile whose rows are `row_stride` elements apart.
    pub fn tile(data: &'a [T], full_h: usize, full_w: usize, c: usize, rows: (usize, usize), cols: (usize, usize), row_stride: usize) -> Self {
        InView {
            data,
            full_h,
            full_w,
            c,
            row0: rows.0,
            rows: rows.1,
            col0: cols.0,
            cols: cols.1,
            row_stride,
            row_slot0: 0,
            row_slots: rows.1,
            col_slot0: 0,
            col_slots: cols.1,
        }
    }

    /// Check that the view is self-consistent and `data` holds every pixel it claims.
    pub fn check(&self) -> Result<(), Error> {
        let bad = Error::BadView("input view");
        if self.row0.checked_add(self.rows).ok_or(bad)? > self.full_h
            || self.col0.checked_add(self.cols).ok_or(bad)? > self.full_w
            || self.rows > self.row_slots
            || self.cols > self.col_slots
            || self.col_slots.checked_mul(self.c).ok_or(bad)? > self.row_stride
        {
            return Err(bad);
        }
        if self.rows > 0 && self.cols > 0 {
            if self.row_slot0 >= self.row_slots || self.col_slot0 >= self.col_slots {
                return Err(bad);
            }
            let need = (self.row_slots - 1).checked_mul(self.row_stride).and_then(|v| v.checked_add(self.col_slots * self.c)).ok_or(bad)?;
            if self.data.len() < need {
                return Err(bad);
            }
        }
        Ok(())
    }

    /// The `c` channels of full-map pixel `(y, x)`; the caller guarantees the pixel is in the
    /// view (checked by [`InView::check`] and the kernels' coverage checks).
    #[inline(always)]
    pub(crate) fn pixel(&self, y: usize, x: usize) -> &'a [T] {
        // One conditional subtraction per axis, no division: the offsets are below 2 * slots.
        let mut r = self.row_slot0 + (y - self.row0);
        if r >= self.row_slots {
            r -= self.row_slots;
        }
        let mut s = self.col_slot0 + (x - self.col0);
        if s >= self.col_slots {
            s -= self.col_slots;
        }
        let start = r * self.row_stride + s * self.c;
        &self.data[start..start + self.c]
    }

    /// Does the view hold rows `r0..r1` and columns `c0..c1` (empty ranges are always held)?
    pub fn covers(&self, r0: usize, r1: usize, c0: usize, c1: usize) -> bool {
        (r0 >= r1 || (self.row0 <= r0 && r1 <= self.row0 + self.rows))
            && (c0 >= c1 || (self.col0 <= c0 && c1 <= self.col0 + self.cols))
    }
}

/// The rectangle `y0..y1 x x0..x1` of an output map, written into `data`: output pixel `(y, x)`
/// starts at element `(y - y0) * row_stride + (x - x0) * c_out`.
#[derive(Debug)]
pub struct OutWindow<'a, T> {
    pub data: &'a mut [T],
    pub y0: usize,
    pub y1: usize,
    pub x0: usize,
    pub x1: usize,
    pub row_stride: usize,
}

impl<'a, T> OutWindow<'a, T> {
    /// The whole `h x w x c` output map, dense.
    pub fn whole(data: &'a mut [T], h: usize, w: usize, c: usize) -> Self {
        OutWindow { data, y0: 0, y1: h, x0: 0, x1: w, row_stride: w * c }
    }

    /// Check the window lies in an `out_h x out_w x c` map and `data` is large enough.
    pub fn check(&self, out_h: usize, out_w: usize, c: usize) -> Result<(), Error> {
        let bad = Error::BadView("output window");
        if self.y0 > self.y1 || self.x0 > self.x1 || self.y1 > out_h || self.x1 > out_w {
            return Err(bad);
        }
        let cols = self.x1 - self.x0;
        if cols.checked_mul(c).ok_or(bad)? > self.row_stride {
            return Err(bad);
        }
        let rows = self.y1 - self.y0;
        if rows > 0 && cols > 0 {
            let need = (rows - 1).checked_mul(self.row_stride).and_then(|v| v.checked_add(cols * c)).ok_or(bad)?;
            if self.data.len() < need {
                return Err(bad);
            }
        }
        Ok(())
    }

    #[inline(always)]
    pub(crate) fn pixel_mut(&mut self, y: usize, x: usize, c: usize) -> &mut [T] {
        let start = (y - self.y0) * self.row_stride + (x - self.x0) * c;
        &mut self.data[start..start + c]
    }
}
