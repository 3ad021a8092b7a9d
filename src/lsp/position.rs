//! Byte offsets ↔ LSP positions: lines, and columns counted in UTF-16 code units (what LSP
//! clients use by default), so a line with Cyrillic letters or an emoji maps exactly.

use lsp_types::Position;

/// The position of byte `offset` in `text` (clamped to the text, and to a char boundary).
pub fn position_at(text: &str, offset: usize) -> Position {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let line_start = text[..offset].rfind('\n').map_or(0, |p| p + 1);
    let line = text[..line_start].matches('\n').count();
    let character: usize = text[line_start..offset].chars().map(char::len_utf16).sum();
    Position {
        line: u32::try_from(line).unwrap_or(u32::MAX),
        character: u32::try_from(character).unwrap_or(u32::MAX),
    }
}

/// The byte offset of `position` in `text`; past the end of a line it is the line's end, past
/// the last line the text's end.
pub fn offset_at(text: &str, position: Position) -> usize {
    let mut line_start = 0;
    for _ in 0..position.line {
        match text[line_start..].find('\n') {
            Some(p) => line_start += p + 1,
            None => return text.len(),
        }
    }
    let line_end = text[line_start..]
        .find('\n')
        .map_or(text.len(), |p| line_start + p);
    let mut units = 0u32;
    for (i, c) in text[line_start..line_end].char_indices() {
        if units >= position.character {
            return line_start + i;
        }
        units += u32::try_from(c.len_utf16()).unwrap_or(2);
    }
    line_end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_columns_round_trip() {
        let text = "say \"Привет 😀!\"\nx";
        let bang = text.find('!').unwrap_or(0);
        let p = position_at(text, bang);
        // s a y space quote = 5, Привет = 6, space = 1, 😀 = 2 UTF-16 units.
        assert_eq!((p.line, p.character), (0, 14));
        assert_eq!(offset_at(text, p), bang);
        assert_eq!(
            offset_at(
                text,
                Position {
                    line: 1,
                    character: 9
                }
            ),
            text.len()
        );
        assert_eq!(
            offset_at(
                text,
                Position {
                    line: 7,
                    character: 0
                }
            ),
            text.len()
        );
    }
}
