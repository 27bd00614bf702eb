"""Outlines read with tree-sitter: definitions, signatures, docs, parents and imports."""

from __future__ import annotations

import textwrap

import pytest

from context.symbols import Import, Outline, Symbol, outline

ALL_LANGUAGES = ["python", "javascript", "javascriptreact", "typescript", "typescriptreact",
                 "go", "rust", "java", "c", "cpp"]


def read(text: str, language: str) -> Outline:
    result = outline(textwrap.dedent(text).lstrip("\n"), language)
    assert result is not None
    return result


def symbols(result: Outline) -> dict[str, Symbol]:
    found = {s.qualified_name: s for s in result.symbols}
    assert len(found) == len(result.symbols), "a qualified name appears twice"
    return found


def shape(result: Outline) -> list[tuple[str, str]]:
    return [(s.qualified_name, s.kind) for s in result.symbols]


def imports(result: Outline) -> list[tuple[str, str | None, str]]:
    return [(i.module, i.name, i.alias) for i in result.imports]


# --- Python -------------------------------------------------------------------------------

PYTHON = '''
"""Module doc."""
from __future__ import annotations

import os
import os.path
import numpy as np
from typing import TYPE_CHECKING
from . import sibling
from ..pkg.mod import a, b as c
from .star import *

if TYPE_CHECKING:
    from collections.abc import Iterator

MAX_SIZE = 10
name: str = "x"


@dataclass(frozen=True)
class Point(Base, metaclass=Meta):
    """A point.

    More text.
    """

    x: int = 0

    def norm(self, p: int = 2) -> float:
        \'\'\'Its norm.\'\'\'
        return 0.0

    @property
    async def fetch(self):
        return 1

    class Inner:
        def deep(self): pass


async def main(argv: list[str]) -> int:
    """
    Run it.
    """
    def helper(): pass
    return 0
'''


def test_python_definitions() -> None:
    result = read(PYTHON, "python")
    assert shape(result) == [
        ("MAX_SIZE", "variable"), ("name", "variable"), ("Point", "class"),
        ("Point.x", "variable"), ("Point.norm", "method"), ("Point.fetch", "method"),
        ("Point.Inner", "class"), ("Point.Inner.deep", "method"), ("main", "function"),
    ]
    found = symbols(result)
    point = found["Point"]
    assert point.signature == "class Point(Base, metaclass=Meta):"
    assert point.doc == "A point."
    assert (point.start_line, point.end_line) == (18, 36)  # the span includes the decorator
    assert found["Point.norm"].signature == "def norm(self, p: int = 2) -> float:"
    assert found["Point.norm"].doc == "Its norm."
    assert found["Point.fetch"].signature == "async def fetch(self):"
    assert found["Point.Inner.deep"].parent == "Point.Inner"
    assert found["main"].signature == "async def main(argv: list[str]) -> int:"
    assert found["main"].doc == "Run it."
    assert found["MAX_SIZE"].signature == "MAX_SIZE = 10"
    assert found["name"].signature == 'name: str = "x"'
    assert "helper" not in {s.name for s in result.symbols}  # function bodies are not read


def test_python_imports() -> None:
    result = read(PYTHON, "python")
    assert imports(result) == [
        ("os", None, "os"),
        ("os.path", None, "os"),
        ("numpy", None, "np"),
        ("typing", "TYPE_CHECKING", "TYPE_CHECKING"),
        (".", "sibling", "sibling"),
        ("..pkg.mod", "a", "a"),
        ("..pkg.mod", "b", "c"),
        (".star", "*", "*"),
        ("collections.abc", "Iterator", "Iterator"),  # under `if TYPE_CHECKING:`
    ]
    assert result.imports[-1].line == 12


def test_enclosing_is_outermost_first() -> None:
    result = read(PYTHON, "python")
    assert [s.qualified_name for s in result.enclosing(36)] == [
        "Point", "Point.Inner", "Point.Inner.deep"]
    assert result.enclosing(0) == []


# --- JavaScript and TypeScript --------------------------------------------------------------

TYPESCRIPT = """
import {a, b as c} from "./util.js";
import React from "react";
import * as path from "node:path";
import type {Options} from "./types";
import "./polyfill";
const fs = require("fs");
const {join, resolve: res} = require("path");

/**
 * Adds two numbers.
 * @param a the first
 */
export function add(a: number, b: number): number {
  function inner() {}
  return a + b;
}

// Doubles.
export const double = (x: number): number => x * 2;
const legacy = function (y) { return y; };
export const LIMIT = 100, twice = async (z) => z;

export interface Shape {
  area(): number;
  name: string;
}

export type Id = string | number;
export enum Color { Red, Green }

/** A circle. */
@Component({selector: "c"})
export default class Circle extends Base implements Shape {
  radius = 1;
  /** The area. */
  @Memo()
  area(): number {
    return 3.14 * this.radius ** 2;
  }
  onClick = (event: Event) => {
    this.radius += 1;
  };
  static create(): Circle { return new Circle(); }
}

declare function ambient(x: number): void;
export namespace Geometry {
  export function origin() { return 0; }
}
export default function () {}
"""


def test_typescript_definitions() -> None:
    result = read(TYPESCRIPT, "typescript")
    assert shape(result) == [
        ("add", "function"), ("double", "function"), ("legacy", "function"),
        ("LIMIT", "variable"), ("twice", "function"),
        ("Shape", "interface"), ("Shape.area", "method"), ("Shape.name", "variable"),
        ("Id", "type"), ("Color", "enum"),
        ("Circle", "class"), ("Circle.radius", "variable"), ("Circle.area", "method"),
        ("Circle.onClick", "method"), ("Circle.create", "method"),
        ("ambient", "function"), ("Geometry", "namespace"), ("Geometry.origin", "function"),
        ("default", "function"),
    ]
    found = symbols(result)
    add = found["add"]
    assert add.signature == "function add(a: number, b: number): number"
    assert add.doc == "Adds two numbers."  # the JSDoc above the `export` wrapper
    assert (add.start_line, add.end_line) == (12, 15)
    assert found["double"].signature == "const double = (x: number): number =>"
    assert found["double"].doc == "Doubles."
    assert found["legacy"].signature == "const legacy = function (y)"
    assert found["LIMIT"].signature == "const LIMIT = 100"
    assert found["twice"].signature == "const twice = async (z) =>"
    assert found["Shape.area"].signature == "area(): number"
    assert found["Id"].signature == "type Id = string | number"
    circle = found["Circle"]
    assert circle.signature == "class Circle extends Base implements Shape"
    assert circle.doc == "A circle."
    assert circle.start_line == 31  # at the decorator
    area = found["Circle.area"]
    assert area.signature == "area(): number"  # without its decorator or body
    assert area.doc == "The area."
    assert (area.start_line, area.end_line) == (35, 38)
    assert area.parent == "Circle"
    assert found["Circle.onClick"].signature == "onClick = (event: Event) =>"
    assert found["Circle.create"].signature == "static create(): Circle"
    assert found["ambient"].signature == "function ambient(x: number): void"
    assert found["Geometry.origin"].parent == "Geometry"


def test_typescript_imports() -> None:
    result = read(TYPESCRIPT, "typescript")
    assert imports(result) == [
        ("./util.js", "a", "a"),
        ("./util.js", "b", "c"),
        ("react", "default", "React"),
        ("node:path", None, "path"),
        ("./types", "Options", "Options"),
        ("fs", None, "fs"),
        ("path", "join", "join"),
        ("path", "resolve", "res"),
    ]
    assert [i.line for i in result.imports[:3]] == [0, 0, 1]


def test_javascript_and_jsx() -> None:
    source = """
    // Renders the app.
    export const App = ({ title }) => <h1>{title}</h1>;

    export default class Store {
      #items = [];
      get size() { return this.#items.length; }
    }
    module.exports = { App };
    """
    for language in ("javascript", "javascriptreact", "typescriptreact"):
        result = read(source, language)
        assert shape(result) == [("App", "function"), ("Store", "class"),
                                 ("Store.#items", "variable"), ("Store.size", "method")]
        found = symbols(result)
        assert found["App"].signature == "const App = ({ title }) =>"
        assert found["App"].doc == "Renders the app."
        assert found["Store.size"].signature == "get size()"


# --- Go -----------------------------------------------------------------------------------

GO = """
package server

import "fmt"
import (
	"net/http"
	log "github.com/sirupsen/logrus"
	"github.com/user/repo/v2"
	_ "embed"
)

// Server serves requests.
// It is safe for concurrent use.
type Server struct {
	addr string
}

// Handler handles one request.
type Handler interface {
	// Handle handles it.
	Handle(r *http.Request) error
}

type (
	ID    = string
	Queue []ID
)

const Version = "1.0"

// New makes a server.
func New(addr string) *Server {
	return &Server{addr: addr}
}

// Run blocks until done.
func (s *Server) Run(ctx context.Context) error {
	fmt.Println("run")
	return nil
}

func (q Queue[T]) Len() int { return len(q) }
"""


def test_go_definitions() -> None:
    result = read(GO, "go")
    assert shape(result) == [
        ("Server", "struct"), ("Handler", "interface"), ("Handler.Handle", "method"),
        ("ID", "type"), ("Queue", "type"), ("Version", "variable"), ("New", "function"),
        ("Server.Run", "method"), ("Queue.Len", "method"),
    ]
    found = symbols(result)
    server = found["Server"]
    assert server.signature == "type Server struct"
    assert server.doc == "Server serves requests."
    assert (server.start_line, server.end_line) == (12, 14)
    assert found["Handler"].signature == "type Handler interface"
    assert found["Handler.Handle"].signature == "Handle(r *http.Request) error"
    assert found["Handler.Handle"].doc == "Handle handles it."
    assert found["ID"].signature == "type ID = string"
    assert found["Version"].signature == 'const Version = "1.0"'
    assert found["New"].signature == "func New(addr string) *Server"
    assert found["New"].doc == "New makes a server."
    run = found["Server.Run"]
    assert (run.name, run.parent, run.kind) == ("Run", "Server", "method")
    assert run.signature == "func (s *Server) Run(ctx context.Context) error"
    assert run.doc == "Run blocks until done."
    assert (run.start_line, run.end_line) == (35, 38)


def test_go_imports() -> None:
    result = read(GO, "go")
    assert imports(result) == [
        ("fmt", None, "fmt"),
        ("net/http", None, "http"),
        ("github.com/sirupsen/logrus", None, "log"),
        ("github.com/user/repo/v2", None, "repo"),
        ("embed", None, "_"),
    ]
    assert [i.line for i in result.imports] == [2, 4, 5, 6, 7]


# --- Rust ---------------------------------------------------------------------------------

RUST = """
//! The crate.
use std::collections::HashMap;
use crate::model::{Point, Shape as Figure, self};
use std::io::*;

/// A 2D vector.
/// With more lines.
#[derive(Debug, Clone)]
pub struct Vec2 {
    pub x: f64,
    pub y: f64,
}

pub struct Meters(f64);

pub enum Kind { Small, Large(u32) }

/// Something with an area.
pub trait Area {
    fn area(&self) -> f64;
}

impl Vec2 {
    /// Makes a vector.
    pub fn new(x: f64, y: f64) -> Self {
        Vec2 { x, y }
    }
}

impl<T: Copy> Area for Wrapper<T> where T: Debug {
    fn area(&self) -> f64 { 0.0 }
}

pub mod util {
    pub const ZERO: f64 = 0.0;
    pub(crate) async fn helper() {}
}

type Map = HashMap<String, Vec2>;
"""


def test_rust_definitions() -> None:
    result = read(RUST, "rust")
    assert shape(result) == [
        ("Vec2", "struct"), ("Meters", "struct"), ("Kind", "enum"),
        ("Area", "interface"), ("Area.area", "method"),
        ("Vec2.new", "method"), ("Wrapper.area", "method"),
        ("util", "module"), ("util.ZERO", "variable"), ("util.helper", "function"),
        ("Map", "type"),
    ]
    found = symbols(result)
    vec2 = found["Vec2"]
    assert vec2.signature == "pub struct Vec2"
    assert vec2.doc == "A 2D vector."
    assert (vec2.start_line, vec2.end_line) == (7, 11)  # from the attribute
    assert found["Meters"].signature == "pub struct Meters(f64)"
    assert found["Kind"].signature == "pub enum Kind"
    assert found["Area"].doc == "Something with an area."
    assert found["Area.area"].signature == "fn area(&self) -> f64"
    new = found["Vec2.new"]
    assert (new.parent, new.signature, new.doc) == (
        "Vec2", "pub fn new(x: f64, y: f64) -> Self", "Makes a vector.")
    assert found["Wrapper.area"].parent == "Wrapper"  # impl Trait for Type: the type
    assert found["util.ZERO"].signature == "pub const ZERO: f64 = 0.0"
    assert found["util.helper"].signature == "pub(crate) async fn helper()"
    assert found["Map"].signature == "type Map = HashMap<String, Vec2>"


def test_rust_imports() -> None:
    result = read(RUST, "rust")
    assert imports(result) == [
        ("std::collections", "HashMap", "HashMap"),
        ("crate::model", "Point", "Point"),
        ("crate::model", "Shape", "Figure"),
        ("crate::model", None, "model"),
        ("std::io", "*", "*"),
    ]


# --- Java ---------------------------------------------------------------------------------

JAVA = """
package com.example.shop;

import java.util.List;
import java.util.*;
import static java.util.Objects.requireNonNull;

/**
 * A shopping cart.
 */
@Entity
public class Cart<T extends Item> extends Base implements Iterable<T> {
    private static final int LIMIT = 10;

    /** Makes an empty cart. */
    public Cart() {
        super();
    }

    // Adds an item.
    @Override
    public synchronized boolean add(T item) throws CartFullException {
        return items.add(item);
    }

    abstract int size();

    public static class Line {
        int quantity() { return 1; }
    }

    enum State { OPEN, CLOSED; boolean done() { return this == CLOSED; } }

    record Total(long cents) {}
}

interface Priced {
    long price();
}
"""


def test_java_definitions() -> None:
    result = read(JAVA, "java")
    assert shape(result) == [
        ("Cart", "class"), ("Cart.LIMIT", "variable"), ("Cart.Cart", "constructor"),
        ("Cart.add", "method"), ("Cart.size", "method"),
        ("Cart.Line", "class"), ("Cart.Line.quantity", "method"),
        ("Cart.State", "enum"), ("Cart.State.done", "method"), ("Cart.Total", "class"),
        ("Priced", "interface"), ("Priced.price", "method"),
    ]
    found = symbols(result)
    cart = found["Cart"]
    assert cart.signature == (
        "public class Cart<T extends Item> extends Base implements Iterable<T>")
    assert cart.doc == "A shopping cart."
    assert (cart.start_line, cart.end_line) == (9, 33)  # from the annotation
    assert found["Cart.Cart"].doc == "Makes an empty cart."
    add = found["Cart.add"]
    assert add.signature == (
        "public synchronized boolean add(T item) throws CartFullException")
    assert add.doc == "Adds an item."
    assert add.parent == "Cart"
    assert found["Cart.size"].signature == "abstract int size()"
    assert found["Cart.LIMIT"].signature == "private static final int LIMIT = 10"
    assert found["Cart.Total"].signature == "record Total(long cents)"


def test_java_imports() -> None:
    result = read(JAVA, "java")
    assert imports(result) == [
        ("java.util", "List", "List"),
        ("java.util", "*", "*"),
        ("java.util.Objects", "requireNonNull", "requireNonNull"),
    ]


# --- C and C++ ----------------------------------------------------------------------------

C = """
#ifndef LIST_H
#define LIST_H

#include <stdio.h>
#include "util/strings.h"

#define MAX_ITEMS 64
#define SQUARE(x) ((x) * (x))

/* A node of the list. */
struct node {
    int value;
    struct node *next;
};

typedef struct list {
    struct node *head;
} list_t;

typedef enum { RED, GREEN } color;
typedef int (*compare_fn)(const void *, const void *);

/**
 * Finds a value.
 */
static struct node *list_find(list_t *list, int value) {
    return NULL;
}

int list_length(const list_t *list);
int (*default_compare)(const void *, const void *);
int counter = 0;

#endif
"""


def test_c_definitions() -> None:
    result = read(C, "c")
    assert shape(result) == [
        ("MAX_ITEMS", "macro"), ("SQUARE", "macro"),  # not the include guard
        ("node", "struct"), ("list", "struct"), ("list_t", "struct"), ("color", "enum"),
        ("compare_fn", "type"), ("list_find", "function"), ("list_length", "function"),
        ("default_compare", "variable"),  # a pointer to a function, not a prototype
        ("counter", "variable"),
    ]
    found = symbols(result)
    assert found["node"].signature == "struct node"
    assert found["node"].doc == "A node of the list."
    assert (found["node"].start_line, found["node"].end_line) == (10, 13)
    assert found["list_t"].signature == "typedef struct list list_t"
    assert found["compare_fn"].signature == "typedef int (*compare_fn)(const void *, const void *)"
    find = found["list_find"]
    assert find.signature == "static struct node *list_find(list_t *list, int value)"
    assert find.doc == "Finds a value."
    assert found["list_length"].signature == "int list_length(const list_t *list)"
    assert found["SQUARE"].signature == "#define SQUARE(x)"
    assert found["MAX_ITEMS"].signature == "#define MAX_ITEMS 64"
    assert found["MAX_ITEMS"].end_line == 6


def test_c_imports() -> None:
    result = read(C, "c")
    assert imports(result) == [("stdio.h", None, "stdio"), ("util/strings.h", None, "strings")]
    assert [i.line for i in result.imports] == [3, 4]


CPP = """
#include <vector>
#include "shape.hpp"

namespace geo {

/// A 2D shape.
class Shape : public Base {
 public:
  Shape(int sides);
  virtual ~Shape();
  virtual double area() const = 0;
  static Shape *make(int sides) { return nullptr; }
  template <typename T> T as() const { return T(); }

 private:
  int sides_;
};

namespace detail {
int helper(int x);
}

}  // namespace geo

// Builds it.
geo::Shape::Shape(int sides) : sides_(sides) {}

double geo::Shape::area() const { return 0; }

template <typename T>
T clamp(T value, T low, T high) {
  return value;
}

template <typename T>
struct Box {
  T value;
};

using Shapes = std::vector<geo::Shape>;
"""


def test_cpp_definitions() -> None:
    result = read(CPP, "cpp")
    assert shape(result) == [
        ("geo", "namespace"), ("geo.Shape", "class"),
        ("geo.Shape.Shape", "constructor"), ("geo.Shape.~Shape", "method"),
        ("geo.Shape.area", "method"), ("geo.Shape.make", "method"),
        ("geo.Shape.as", "method"), ("geo.Shape.sides_", "variable"),
        ("geo.detail", "namespace"), ("geo.detail.helper", "function"),
        ("geo.Shape.Shape", "constructor"), ("geo.Shape.area", "method"),
        ("clamp", "function"), ("Box", "struct"), ("Box.value", "variable"),
        ("Shapes", "type"),
    ]
    found = {(s.qualified_name, s.start_line): s for s in result.symbols}
    shape_class = found["geo.Shape", 6]
    assert shape_class.signature == "class Shape : public Base"
    assert shape_class.doc == "A 2D shape."
    assert found["geo.Shape.area", 10].signature == "virtual double area() const"
    assert found["geo.Shape.make", 11].signature == "static Shape *make(int sides)"
    assert found["geo.Shape.as", 12].signature == "template <typename T> T as() const"
    outside = found["geo.Shape.Shape", 25]
    assert (outside.name, outside.parent) == ("Shape", "geo.Shape")
    assert outside.signature == "geo::Shape::Shape(int sides)"  # not the initializer list
    assert outside.doc == "Builds it."
    area = found["geo.Shape.area", 27]
    assert area.signature == "double geo::Shape::area() const"
    clamp = found["clamp", 29]
    assert clamp.signature == "template <typename T> T clamp(T value, T low, T high)"
    assert (clamp.start_line, clamp.end_line) == (29, 32)
    assert found["Box", 34].signature == "template <typename T> struct Box"
    assert found["Shapes", 39].signature == "using Shapes = std::vector<geo::Shape>"
    assert imports(result) == [("vector", None, "vector"), ("shape.hpp", None, "shape")]


def test_cpp_out_of_class_method_gets_its_class_as_parent() -> None:
    result = read("void Foo::bar() {}\nint Box<T>::get() const { return 0; }\n", "cpp")
    assert [(s.name, s.parent, s.kind) for s in result.symbols] == [
        ("bar", "Foo", "method"), ("get", "Box", "method")]


# --- Robustness ---------------------------------------------------------------------------

def test_language_without_grammar() -> None:
    assert outline("x = 1", "ruby") is None
    assert outline("x", "plaintext") is None


@pytest.mark.parametrize("language", ALL_LANGUAGES)
def test_empty_file(language: str) -> None:
    result = outline("", language)
    assert result == Outline(language)


BROKEN = {
    "python": "def good(a):\n    return a\n\ndef broken(:\n    pass\n",
    "javascript": "function good(a) { return a; }\nfunction broken( {\n",
    "typescript": "export function good(a: number) { return a; }\nclass {{{ broken\n",
    "go": "package p\n\nfunc good() {}\n\nfunc broken( {\n",
    "rust": "fn good() {}\nfn broken( {\n",
    "java": "class A {\n  void good() {}\n  void broken( {\n}\n",
    "c": "int good(void) { return 0; }\nint broken( {\n",
    "cpp": "int good() { return 0; }\nclass K { void m( ; };\n",
}


@pytest.mark.parametrize("language", sorted(BROKEN))
def test_syntax_errors_give_a_partial_outline(language: str) -> None:
    result = outline(BROKEN[language], language)
    assert result is not None
    assert "good" in [s.name for s in result.symbols]


@pytest.mark.parametrize("language", ALL_LANGUAGES)
def test_garbage_does_not_raise(language: str) -> None:
    for text in ("}{)(][", "\x00\x01\x02", "\ud800 lone surrogate", "é" * 1000, "{" * 500):
        assert outline(text, language) is not None


def test_non_ascii_keeps_line_numbers() -> None:
    python = '# Café ☕ — 日本語\nTITLE = "naïve 🎉"\n\n\ndef größe(x):\n    """Größe."""\n'
    found = symbols(read(python, "python"))
    assert found["TITLE"].start_line == 1
    assert found["größe"].start_line == 4
    assert found["größe"].doc == "Größe."

    go = "package p\n\n// Grüße sagt hallo 👋.\nfunc Grüße() string { return \"ß\" }\n"
    greet = symbols(read(go, "go"))["Grüße"]
    assert (greet.start_line, greet.doc) == (3, "Grüße sagt hallo 👋.")
    assert greet.signature == "func Grüße() string"

    js = '/* ✓ */ const s = "😀😀";\n/** Ünïcode ☃. */\nfunction ƒ() {}\n'
    f = symbols(read(js, "javascript"))["ƒ"]
    assert (f.start_line, f.doc) == (2, "Ünïcode ☃.")


def test_comment_attachment() -> None:
    source = """
    /* License header. */

    function undocumented() {}
    let x = 1; // about x
    function afterTrailing() {}
    // a note
    /** The doc. */
    function nearest() {}
    // ------
    // Real text.
    function decorated() {}
    """
    found = symbols(read(source, "javascript"))
    assert found["undocumented"].doc == ""  # a blank line separates the header
    assert found["afterTrailing"].doc == ""  # the comment belongs to `let x`
    assert found["nearest"].doc == "The doc."
    assert found["decorated"].doc == "Real text."


def test_signatures_are_one_line_and_bounded() -> None:
    params = ",\n    ".join(f"argument{i}: number" for i in range(60))
    source = f"export function wide(\n    {params}\n): void {{\n  return;\n}}\n"
    wide = symbols(read(source, "typescript"))["wide"]
    assert "\n" not in wide.signature
    assert len(wide.signature) <= 240
    assert wide.signature.endswith("…")
    assert "return" not in wide.signature


def test_imports_are_dataclasses() -> None:
    result = read('import x from "m";\n', "javascript")
    assert result.imports == [Import("m", "default", "x", 0)]
