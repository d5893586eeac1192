main :: IO ()
main = putStrLn ("O" ++ "K")
