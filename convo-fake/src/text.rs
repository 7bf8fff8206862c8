//! Text as both wire formats count and cut it: the fake's tokenizer and
//! the split of an answer into stream pieces.

/// ceil(chars / 4): the fake's tokenizer (no real one, so counts are
/// approximate but stable, and grow with the text).
pub fn approx_tokens(text: &str) -> u64 {
    let chars = text.chars().count() as u64;
    chars.div_ceil(4)
}

/// `text` in up to `n` pieces of whole characters (never splitting a code
/// point); none for an empty text.
pub fn pieces(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return Vec::new();
    }
    let count = n.clamp(1, chars.len());
    (0..count)
        .map(|i| {
            chars[i * chars.len() / count..(i + 1) * chars.len() / count]
                .iter()
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_keep_every_character_in_order() {
        assert_eq!(pieces("héllo", 2).concat(), "héllo");
        assert_eq!(pieces("ab", 5).len(), 2);
        assert!(pieces("", 3).is_empty());
    }

    #[test]
    fn a_token_is_up_to_four_characters() {
        assert_eq!(approx_tokens(""), 0);
        assert_eq!(approx_tokens("abcd"), 1);
        assert_eq!(approx_tokens("héllo"), 2);
    }
}
