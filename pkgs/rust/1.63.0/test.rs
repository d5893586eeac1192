fn main() {
    let s: String = ["O", "K"].concat();
    println!("{}", s);
}
