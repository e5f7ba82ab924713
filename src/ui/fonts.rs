//! Fonts: egui's own for Latin text and emoji, the system's fonts (eframe's provider) where
//! there are any, and a bundled OFL subset of Noto Sans CJK SC as the last fallback, so that
//! Chinese renders on every machine (`assets/fonts/OFL.txt`).

use eframe::egui;
use egui::epaint::text::{FontInsert, FontPriority, InsertFontFamily};

/// Noto Sans CJK SC: the hanzi and symbols of GB 2312, CJK punctuation, full-width forms.
pub const CJK_FALLBACK: &[u8] = include_bytes!("../../assets/fonts/NotoSansSC-Regular-subset.otf");

/// Adds the bundled CJK font after every other font of both families.
pub fn install(ctx: &egui::Context) {
    let families = [egui::FontFamily::Proportional, egui::FontFamily::Monospace]
        .map(|family| InsertFontFamily { family, priority: FontPriority::Lowest })
        .to_vec();
    ctx.add_font(FontInsert::new("noto-sans-sc-subset", egui::FontData::from_static(CJK_FALLBACK), families));
}
