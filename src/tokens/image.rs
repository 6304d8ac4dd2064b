//! Image input tokens.
//!
//! Tile method (gpt-4o, gpt-4.1, o1, o3, gpt-5…; Azure `overview.md`, OpenAI vision guide):
//! `low` detail costs `base`; otherwise the image is scaled down to fit 2048 × 2048, then down
//! so its short side is 768 px, and costs `base + per_tile × ⌈w/512⌉ × ⌈h/512⌉`. Scaled sizes
//! are truncated to whole pixels, as an image resize produces. `auto` is counted as `high`
//! (the service picks by size; high is the bound a planner needs).
//!
//! Patch method (gpt-4.1-mini/nano, o4-mini, gpt-5-mini; OpenAI vision guide as transcribed,
//! marked uncertain in the catalog): `⌈w/32⌉ × ⌈h/32⌉` patches; above `max_patches` the image is
//! shrunk so whole patches fit, then tokens = patches × multiplier, rounded. Detail is ignored.
//!
//! Invariant: never panics on any size, including 0 × 0 (which costs the base).

use base64::Engine as _;

use crate::catalog::ImageParams;

/// Requested detail level of an `image_url` part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    Low,
    High,
    Auto,
}

/// Tokens an image of `width × height` pixels costs under `params`.
pub fn image_tokens(params: &ImageParams, width: u64, height: u64, detail: Detail) -> u64 {
    match *params {
        ImageParams::Tile { base, per_tile } => {
            if detail == Detail::Low || width == 0 || height == 0 {
                return base;
            }
            let (mut w, mut h) = (width as f64, height as f64);
            if w.max(h) > 2048.0 {
                let s = 2048.0 / w.max(h);
                w = (w * s).floor();
                h = (h * s).floor();
            }
            if w.min(h) > 768.0 {
                let s = 768.0 / w.min(h);
                w = (w * s).floor();
                h = (h * s).floor();
            }
            let tiles = (w / 512.0).ceil().max(1.0) * (h / 512.0).ceil().max(1.0);
            base + per_tile * tiles as u64
        }
        ImageParams::Patch {
            multiplier,
            max_patches,
        } => {
            if width == 0 || height == 0 {
                return 0;
            }
            let (w, h) = (width as f64, height as f64);
            let mut patches = (w / 32.0).ceil() * (h / 32.0).ceil();
            if patches > max_patches as f64 {
                let mut r = (32.0 * 32.0 * max_patches as f64 / (w * h)).sqrt();
                let (sw, sh) = (w * r / 32.0, h * r / 32.0);
                r *= (sw.floor() / sw).min(sh.floor() / sh);
                // w·r/32 is a whole number up to rounding error: do not let 33.000000001 become 34.
                let whole = |x: f64| (x - 1e-9).ceil();
                patches = (whole(w * r / 32.0) * whole(h * r / 32.0)).min(max_patches as f64);
            }
            (patches * multiplier).round() as u64
        }
    }
}

/// Why the size of an image could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ImageSizeError {
    #[error("not a base64 data: URL")]
    NotDataUrl,
    #[error("invalid base64 in data: URL: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("unrecognised image format in data: URL")]
    Format,
}

/// Width and height of an image given inline as `data:image/...;base64,...`.
pub fn data_url_size(url: &str) -> Result<(u64, u64), ImageSizeError> {
    let rest = url
        .strip_prefix("data:")
        .ok_or(ImageSizeError::NotDataUrl)?;
    let (meta, payload) = rest.split_once(',').ok_or(ImageSizeError::NotDataUrl)?;
    if !meta.ends_with(";base64") {
        return Err(ImageSizeError::NotDataUrl);
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(payload.trim())?;
    let size = imagesize::blob_size(&bytes).map_err(|_| ImageSizeError::Format)?;
    Ok((size.width as u64, size.height as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GPT4O: ImageParams = ImageParams::Tile {
        base: 85,
        per_tile: 170,
    };
    const GPT4O_MINI: ImageParams = ImageParams::Tile {
        base: 2833,
        per_tile: 5667,
    };

    #[test]
    fn tile_method_matches_documented_examples() {
        // Azure overview.md: 2048 x 4096 high detail -> 768 x 1536 -> 6 tiles.
        assert_eq!(image_tokens(&GPT4O, 2048, 4096, Detail::High), 1105);
        assert_eq!(image_tokens(&GPT4O_MINI, 2048, 4096, Detail::High), 36_835);
        // 1024 x 1024 high -> 768 x 768 -> 4 tiles.
        assert_eq!(image_tokens(&GPT4O, 1024, 1024, Detail::High), 765);
        assert_eq!(image_tokens(&GPT4O, 4096, 8192, Detail::Low), 85);
        assert_eq!(image_tokens(&GPT4O_MINI, 10, 10, Detail::Low), 2833);
        assert_eq!(image_tokens(&GPT4O, 512, 512, Detail::Auto), 255);
    }

    #[test]
    fn patch_method_matches_documented_examples() {
        let mini = ImageParams::Patch {
            multiplier: 1.62,
            max_patches: 1536,
        };
        // 1024 x 1024 -> 32 x 32 = 1024 patches.
        assert_eq!(image_tokens(&mini, 1024, 1024, Detail::High), 1659);
        // 1800 x 2400 -> shrunk to 33 x 44 = 1452 patches.
        let one = ImageParams::Patch {
            multiplier: 1.0,
            max_patches: 1536,
        };
        assert_eq!(image_tokens(&one, 1800, 2400, Detail::High), 1452);
    }

    #[test]
    fn degenerate_sizes_do_not_panic() {
        assert_eq!(image_tokens(&GPT4O, 0, 0, Detail::High), 85);
        assert!(image_tokens(&GPT4O, u32::MAX as u64, 1, Detail::High) >= 85);
    }

    #[test]
    fn reads_png_size_from_data_url() {
        // 1 x 1 transparent PNG.
        let url = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";
        assert_eq!(data_url_size(url).unwrap(), (1, 1));
        assert!(data_url_size("https://example.com/cat.png").is_err());
        assert!(data_url_size("data:image/png;base64,!!!").is_err());
    }
}
