// Building the page from the hub's data: every piece of text goes in as a text
// node (textContent, append(string)), never as HTML, so a message like
// "<img src=x onerror=...>" shows as those characters and runs nothing.

/** The element with this id (throws if the page lacks it: a broken page should fail loudly). */
export function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`missing element #${id}`);
  return node;
}

/**
 * A new element. props: class, text, dataset, hidden, on<event> handlers and
 * plain attributes (never given hub data for href/src). Children: nodes or
 * strings (strings become text nodes).
 */
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "hidden") node.hidden = true;
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** Set an element's text (a text node: never parsed as HTML). */
export function setText(node, text) {
  const value = text === null || text === undefined ? "" : String(text);
  if (node.textContent !== value) node.textContent = value;
}

/** Replace all children of `node` with `children`. */
export function replaceChildren(node, children) {
  node.replaceChildren(...children);
}

export function show(node, visible = true) {
  node.hidden = !visible;
}
