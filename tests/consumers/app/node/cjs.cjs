// Node, CommonJS: require() of the package (an ES module without top-level await).
const pkg = require('forgery-losses');

import('../shared/check.mjs').then(({ check }) => check(pkg)).then((result) => console.log(JSON.stringify(result)));
