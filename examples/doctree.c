/*
 * doctree.c -- a document tree with parent links, the shape of a DOM, on
 * top of pymalloc_gc.
 *
 * Every element holds references to its children and each child holds one
 * to its parent, so every tree is full of reference cycles: dropping the
 * document frees nothing by reference counting alone.  The cycle collector
 * frees it.  Tag names are interned (equal tags are the same object), and
 * an index by id holds only weak references, so it never keeps an element
 * alive.  Run it: it prints the tree, then what happens to it.
 */
#include <stdio.h>
#include <string.h>
#include "pymalloc_gc.h"

typedef struct element {
    struct element *parent;     /* a reference: the cycle */
    void *tag;                  /* interned bytes */
    void *text;                 /* interned bytes or NULL */
    struct element **children;  /* references; the array is ours */
    size_t nchildren, capacity;
} element;

static int element_traverse(void *self, pym_visit_fn visit, void *arg)
{
    element *e = self;
    PYM_VISIT(e->parent);
    PYM_VISIT(e->tag);
    PYM_VISIT(e->text);
    for (size_t i = 0; i < e->nchildren; i++)
        PYM_VISIT(e->children[i]);
    return 0;
}

static void element_clear(void *self)
{
    element *e = self;
    PYM_CLEAR(e->parent);
    PYM_CLEAR(e->tag);
    PYM_CLEAR(e->text);
    while (e->nchildren > 0) {
        element *child = e->children[--e->nchildren];
        pym_decref(child);
    }
}

static void element_dealloc(void *self)
{
    element *e = self;
    element_clear(e);
    pym_free(e->children);
}

static pym_type element_type = {
    .name = "element",
    .size = sizeof(element),
    .traverse = element_traverse,
    .clear = element_clear,
    .dealloc = element_dealloc,
};

/* A new element appended to parent (which then holds the only reference
 * besides the child's own parent link); returns a borrowed pointer. */
static element *add(element *parent, const char *tag, const char *text)
{
    element *e = pym_new(&element_type);
    if (!e)
        return NULL;
    e->tag = pym_intern(tag, strlen(tag));
    e->text = text ? pym_intern(text, strlen(text)) : NULL;
    if (!parent)
        return e;   /* the root: the caller owns this reference */
    if (parent->nchildren == parent->capacity) {
        size_t cap = parent->capacity ? 2 * parent->capacity : 4;
        element **grown = pym_realloc(parent->children, cap * sizeof *grown);
        if (!grown) {
            pym_decref(e);
            return NULL;
        }
        parent->children = grown;
        parent->capacity = cap;
    }
    parent->children[parent->nchildren++] = e;  /* our reference moves there */
    pym_incref(parent);
    e->parent = parent;
    return e;
}

static void print_tree(const element *e, int depth)
{
    printf("%*s<%s>", 2 * depth, "", pym_bytes_data(e->tag));
    if (e->text)
        printf("%s</%s>\n", pym_bytes_data(e->text), pym_bytes_data(e->tag));
    else
        printf("\n");
    for (size_t i = 0; i < e->nchildren; i++)
        print_tree(e->children[i], depth + 1);
    if (!e->text)
        printf("%*s</%s>\n", 2 * depth, "", pym_bytes_data(e->tag));
}

static size_t live_elements(void)
{
    pym_gc_type_stats_t rows[16];
    size_t n = pym_gc_get_type_stats(rows, 16);
    for (size_t i = 0; i < n && i < 16; i++)
        if (rows[i].type == &element_type)
            return rows[i].objects;
    return 0;
}

int main(void)
{
    pym_gc_disable();   /* collect only when we say so, to show the effect */
    element *html = add(NULL, "html", NULL);
    element *body = add(html, "body", NULL);
    add(body, "h1", "A document with parent links");
    element *intro = add(body, "p", "Each child refers to its parent.");
    add(body, "p", "Reference counting alone cannot free it.");
    element *list = add(body, "ul", NULL);
    add(list, "li", "the collector can");
    if (!intro || !list)
        return 1;
    void *intro_by_id = pym_weakref_new(intro, NULL, NULL);     /* the id index */

    print_tree(html, 0);
    printf("same interned tag for both paragraphs: %s\n",
           body->children[1]->tag == body->children[2]->tag ? "yes" : "no");

    /* Keep one paragraph selected, ask why the document is alive. */
    element *selection = intro;
    pym_incref(selection);
    pym_decref(html);
    printf("live elements after dropping the document: %zu\n", live_elements());
    printf("why is <html> alive?\n");
    pym_gc_explain(html, stdout);

    long found = pym_gc_collect(2);
    printf("collection with a paragraph selected: %ld unreachable\n", found);
    pym_decref(selection);
    found = pym_gc_collect(2);
    printf("collection after dropping the selection: %ld unreachable\n", found);
    printf("live elements now: %zu\n", live_elements());
    printf("index entry for the intro paragraph: %s\n",
           pym_weakref_get(intro_by_id) ? "still there" : "gone");
    pym_decref(intro_by_id);
    return live_elements() == 0 ? 0 : 1;
}
