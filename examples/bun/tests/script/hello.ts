const sum: number = [1, 2, 3].reduce((a, b) => a + b, 0);
console.log(`hello from bun ${sum}`);
