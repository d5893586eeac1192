function greet
    echo OK
end
