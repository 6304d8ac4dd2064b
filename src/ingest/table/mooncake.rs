//! Mooncake traces: JSON lines with `timestamp` (ms from the start), `input_length` and
//! `output_length`.

use super::*;

#[derive(serde::Deserialize)]
struct MooncakeRow {
    timestamp: f64,
    input_length: u64,
    output_length: u64,
}

/// Mooncake JSON lines.
pub(super) fn read_mooncake(
    file: &mut OpenFile,
    e: &mut Emitter<'_, '_>,
    progress: &dyn Progress,
) -> Result<(), IngestError> {
    if let Some(d) = e.opts.by.first()
        && !e.opts.by_optional
    {
        return Err(e.error(
            None,
            format!("--by {d}: Mooncake traces have no dimensions to group by"),
        ));
    }
    e.set_relative();
    let consumed = file.consumed.clone();
    let mut last = 0;
    let mut next_line = 1;
    let io_error = e.io_error();
    for_each_block(file.take_reader(), BLOCK_BYTES, io_error, |block| {
        let rows = block.parse_lines(&mut next_line, || {
            |l: &[u8]| {
                serde_json::from_slice::<MooncakeRow>(l)
                    .map_err(|err| format!("not a Mooncake row: {err}"))
                    .and_then(|m| {
                        if !(m.timestamp.is_finite() && m.timestamp >= 0.0) {
                            return Err(format!("timestamp: {} is not a time offset", m.timestamp));
                        }
                        let c = |v: u64, what: &str| {
                            u32::try_from(v).map_err(|_| format!("{what}: {v} is too large"))
                        };
                        Ok(Parsed {
                            t_us: (m.timestamp * 1e3).round() as i64,
                            prompt: c(m.input_length, "input_length")?,
                            completion: c(m.output_length, "output_length")?,
                            cached: 0,
                            max_tokens: 0,
                            failed: false,
                            model: None,
                            dims: Vec::new(),
                            usage_pair: None,
                            no_completion: false,
                        })
                    })
            }
        });
        e.emit(rows)?;
        tick(&consumed, &mut last, progress);
        Ok(())
    })
}
