acc = 0
i = 0
while True:
    acc = acc + i * 2
    i += 1
    if not (i < 1000000):
        break
print("acc =", acc)
