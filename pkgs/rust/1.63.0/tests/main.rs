mod helper;

fn main() {
    println!("{}", helper::word());
}
