//! The chart: delivery latency (p50, p99) and server memory per connection against the
//! number of clients, one colour per server.

use std::path::Path;

use plotters::prelude::*;

use crate::{Row, Server};

const FONT_FILES: [&str; 2] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

fn colour(server: Server) -> RGBColor {
    match server {
        Server::Sockless => RGBColor(0xd9, 0x5f, 0x02),
        Server::SocklessRedis => RGBColor(0xe6, 0xab, 0x02),
        Server::Tokio => RGBColor(0x1b, 0x9e, 0x77),
        Server::Node => RGBColor(0x75, 0x70, 0xb3),
        Server::Floor => RGBColor(0x66, 0x66, 0x66),
        Server::FloorUring => RGBColor(0x99, 0x99, 0x99),
        Server::SocklessUring => RGBColor(0xe7, 0x29, 0x8a),
    }
}

pub fn draw(rows: &[Row], path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let font = FONT_FILES
        .iter()
        .find_map(|f| std::fs::read(f).ok())
        .ok_or("no DejaVuSans.ttf to write the labels with")?;
    plotters::style::register_font(
        "sans-serif",
        FontStyle::Normal,
        Box::leak(font.into_boxed_slice()),
    )
    .map_err(|_| "DejaVuSans.ttf is not a usable font")?;
    let good: Vec<&Row> = rows.iter().filter(|r| r.p99_ms.is_finite()).collect();
    if good.is_empty() {
        return Err("no measured row".into());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let root = BitMapBackend::new(path, (1400, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(700);
    let x_min = good.iter().map(|r| r.clients).min().unwrap() as f64 / 1.5;
    let x_max = good.iter().map(|r| r.clients).max().unwrap() as f64 * 1.5;
    let servers: Vec<Server> = {
        let mut s: Vec<Server> = Vec::new();
        for r in &good {
            if !s.contains(&r.server) {
                s.push(r.server);
            }
        }
        s
    };

    // Latency.
    let lat_max = good.iter().map(|r| r.p99_ms).fold(1.0, f64::max) * 2.0;
    let lat_min = good
        .iter()
        .map(|r| r.p50_ms)
        .fold(f64::INFINITY, f64::min)
        .max(0.01)
        / 2.0;
    let mut chart = ChartBuilder::on(&left)
        .caption(
            "Delivery latency (p50 dashed, p99 solid)",
            ("sans-serif", 22),
        )
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d((x_min..x_max).log_scale(), (lat_min..lat_max).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("clients")
        .y_desc("ms")
        .x_label_formatter(&|x| format!("{:.0}", x))
        .y_label_formatter(&|y| format!("{}", y))
        .label_style(("sans-serif", 15))
        .draw()?;
    for &server in &servers {
        let c = colour(server);
        let points: Vec<&&Row> = good.iter().filter(|r| r.server == server).collect();
        let p99: Vec<(f64, f64)> = points
            .iter()
            .map(|r| (r.clients as f64, r.p99_ms))
            .collect();
        let p50: Vec<(f64, f64)> = points
            .iter()
            .map(|r| (r.clients as f64, r.p50_ms.max(lat_min)))
            .collect();
        chart
            .draw_series(LineSeries::new(p99.clone(), c.stroke_width(3)))?
            .label(format!("{} p99", server.label()))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3)));
        chart.draw_series(p99.iter().map(|&p| Circle::new(p, 5, c.filled())))?;
        chart.draw_series(DashedLineSeries::new(p50.clone(), 6, 4, c.stroke_width(2)))?;
        chart.draw_series(p50.iter().map(|&p| TriangleMarker::new(p, 5, c.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()?;

    // Memory per connection.
    let mem: Vec<(Server, f64, f64)> = good
        .iter()
        .filter(|r| r.rss_per_conn.is_finite())
        .map(|r| {
            (
                r.server,
                r.clients as f64,
                (r.rss_per_conn / 1024.0).max(0.05),
            )
        })
        .collect();
    let mem_max = mem.iter().map(|m| m.2).fold(2.0, f64::max) * 2.0;
    let mut chart = ChartBuilder::on(&right)
        .caption(
            "Server RSS per connection (all processes)",
            ("sans-serif", 22),
        )
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d((x_min..x_max).log_scale(), (0.05..mem_max).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("clients")
        .y_desc("KiB per connection")
        .x_label_formatter(&|x| format!("{:.0}", x))
        .y_label_formatter(&|y| format!("{}", y))
        .label_style(("sans-serif", 15))
        .draw()?;
    // The target: 2 KiB.
    chart
        .draw_series(DashedLineSeries::new(
            vec![(x_min, 2.0), (x_max, 2.0)],
            8,
            6,
            BLACK.stroke_width(1),
        ))?
        .label("target: 2 KiB")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(1)));
    for &server in &servers {
        let c = colour(server);
        let points: Vec<(f64, f64)> = mem
            .iter()
            .filter(|m| m.0 == server)
            .map(|m| (m.1, m.2))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), c.stroke_width(3)))?
            .label(server.label())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3)));
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 5, c.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()?;
    root.present()?;
    Ok(())
}
