pub fn run(_r: usize) -> anyhow::Result<()> { todo!() }
