/** The elements and attribute names of an HTML page whose attribute values are always double-quoted (ours are). */
export function htmlMarkup(html: string): { elements: Set<string>; attributes: Set<string> } {
  const elements = new Set<string>();
  const attributes = new Set<string>();
  for (const tag of html.matchAll(/<([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z][a-zA-Z0-9:-]*(?:="[^"]*")?)*)\s*\/?>/g)) {
    elements.add(tag[1]!.toLowerCase());
    for (const attribute of tag[2]!.matchAll(/\s+([a-zA-Z][a-zA-Z0-9:-]*)(?:="[^"]*")?/g)) attributes.add(attribute[1]!.toLowerCase());
  }
  return { elements, attributes };
}

/** What the HTML report may contain: no script, no embedded or linked resource, no event handler. */
export function assertSelfContained(html: string): void {
  const { elements, attributes } = htmlMarkup(html);
  const forbiddenElements = [...elements].filter((element) => ['script', 'img', 'iframe', 'object', 'embed', 'link', 'base', 'form', 'a', 'image', 'use', 'foreignobject'].includes(element));
  const forbiddenAttributes = [...attributes].filter((attribute) => /^on|^(src|href|xlink:href|srcset|action|formaction)$/.test(attribute));
  if (forbiddenElements.length > 0 || forbiddenAttributes.length > 0 || /@import|url\(/i.test(html)) {
    throw new Error(`the page is not self-contained: elements ${forbiddenElements.join(', ') || 'none'}, attributes ${forbiddenAttributes.join(', ') || 'none'}`);
  }
  // Every "<" that is not markup must have been escaped: the text between tags holds none.
  const text = html.replace(/<!DOCTYPE html>/, '').replace(/<\/?[a-zA-Z][a-zA-Z0-9-]*((?:\s+[a-zA-Z][a-zA-Z0-9:-]*(?:="[^"]*")?)*)\s*\/?>/g, '');
  if (text.includes('<')) throw new Error(`an unescaped "<" in the text: ${text.slice(text.indexOf('<'), text.indexOf('<') + 60)}`);
}
