//! Fonts: egui's own for Latin text, a bundled Noto Emoji (current, complete) in place of the
//! small old emoji subset egui ships, the system's fonts (eframe's provider) where there are
//! any, and a bundled OFL subset of Noto Sans CJK SC as the last fallback, so that Chinese and
//! emoji render on every machine (`assets/fonts/*OFL.txt`).

use eframe::egui;

/// Noto Sans CJK SC: the hanzi and symbols of GB 2312, CJK punctuation, full-width forms.
pub const CJK_FALLBACK: &[u8] = include_bytes!("../../assets/fonts/NotoSansSC-Regular-subset.otf");

/// Noto Emoji (monochrome): every single-code-point emoji of current Unicode.
pub const EMOJI: &[u8] = include_bytes!("../../assets/fonts/NotoEmoji-Regular.ttf");

/// The name egui's default definitions give their emoji font (its slot in the fallback order,
/// after the text font, is kept).
const EGUI_EMOJI: &str = "NotoEmoji-Regular";

/// egui's symbol font ("emoji-icon-font").
const SYMBOLS: &str = "emoji-icon-font";

const CJK: &str = "noto-sans-sc-subset";

/// The font definitions the app uses: egui's defaults with the emoji font replaced and the CJK
/// font added to both families, after the text and emoji fonts.
pub fn definitions() -> egui::FontDefinitions {
    let mut defs = egui::FontDefinitions::default();
    defs.font_data.insert(EGUI_EMOJI.into(), egui::FontData::from_static(EMOJI).into());
    for family in [egui::FontFamily::Proportional, egui::FontFamily::Monospace] {
        let list = defs.families.entry(family).or_default();
        if !list.iter().any(|f| f == EGUI_EMOJI) {
            list.push(EGUI_EMOJI.into());
        }
        // Before egui's symbol font, whose full-width ！ and ？ are emoji-like pictures.
        match list.iter().position(|f| f == SYMBOLS) {
            Some(i) => list.insert(i, CJK.into()),
            None => list.push(CJK.into()),
        }
    }
    defs.font_data.insert(CJK.into(), egui::FontData::from_static(CJK_FALLBACK).into());
    defs
}

/// Installs [`definitions`] (the system font provider, if any, stays behind them).
pub fn install(ctx: &egui::Context) {
    ctx.set_fonts(definitions());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_then_emoji_then_chinese_then_symbols() {
        let defs = definitions();
        let list = &defs.families[&egui::FontFamily::Proportional];
        let pos = |name: &str| list.iter().position(|f| f == name).unwrap();
        assert!(pos("Ubuntu-Light") < pos(EGUI_EMOJI));
        assert!(pos(EGUI_EMOJI) < pos(CJK));
        assert!(pos(CJK) < pos(SYMBOLS));
        assert!(defs.font_data.contains_key(CJK));
    }
}
