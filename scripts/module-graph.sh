#!/usr/bin/env bash
# Prints the edges between strata's top-level modules (src/X.rs or src/X/), read from the
# `crate::X` paths in non-test code, then any cycle among them; then checks the files: no
# circle of files (a.rs uses something b.rs defines, b.rs uses a.rs, or a longer loop), and
# prints each circle with what each file uses of the next. Exit 1 on a cycle or a circle.
#
# File edges come from `use` trees and inline paths (`crate::`, `super::`, `self::`, names a
# `use` brought in, child modules), resolved to the file that defines the item: through
# `pub use` re-exports (a re-export is not itself an edge). What a folder's mod.rs defines
# belongs to every file in that folder: a file using it is no edge. `#[cfg(test)]` items and
# test-only modules are left out.
# Usage: scripts/module-graph.sh   (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
edges=$(
  find src -name '*.rs' | sort | while read -r file; do
    rel=${file#src/}
    from=${rel%%/*}; from=${from%.rs}
    case $from in main | lib) continue ;; esac
    # Test modules come last in a file: stop reading at the first #[cfg(test)].
    awk '/^[[:space:]]*#\[cfg\(test\)\]/ { exit } { sub(/\/\/.*/, ""); print }' "$file" |
      perl -0777 -ne '
        print "$1\n" while /\bcrate::(\w+)/g;
        while (/\buse\s+crate::\{([^;]*)\}/gs) { my $g = $1; print "$1\n" while $g =~ /(?:^|,)\s*(\w+)/g }' |
      sort -u | while read -r to; do
        [ "$to" != "$from" ] && echo "$from $to"
      done
  done | sort -u
)
echo "module edges (from -> to):"
echo "$edges" | awk '{ to[$1] = to[$1] " " $2 } END { for (m in to) print "  " m " ->" to[m] }' | sort
# tsort names the modules of every loop it meets on stderr.
if loops=$(echo "$edges" | tsort 2>&1 >/dev/null) && [ -z "$loops" ]; then
  echo "cycles: none"
else
  echo "cycles:"; echo "$loops" | sed 's/^tsort: /  /'
  status=1
fi

mapfile -t files < <(find src -name '*.rs' | sort)
perl - "${files[@]}" <<'PERL' || status=1
use strict;
use warnings;

# Every src/**/*.rs file but the crate roots, by the module path it holds.
my (%file_of, %mod_of);
for my $file (@ARGV) {
    (my $rel = $file) =~ s{^src/}{};
    $rel =~ s{\.rs$}{};
    $rel =~ s{(^|/)mod$}{};
    next if $rel eq 'main' || $rel eq 'lib';
    my $module = join '::', split m{/}, $rel;
    $file_of{$module} = $file;
    $mod_of{$file} = $module;
}

sub read_code {
    my ($file) = @_;
    open my $fh, '<', $file or die "$file: $!";
    local $/;
    my $text = <$fh>;
    # Comments, strings and character literals out (newlines kept).
    $text =~ s{((?<![\w])b?r(\#*)".*?"\2)|(b?"(?:\\.|[^"\\])*")|(//[^\n]*)|(/\*.*?\*/)|('(?:\\.|[^'\\\n])')}{
        my $m = $&; (defined $4 || defined $5) ? ($m =~ tr/\n//cdr) : '""' . ($m =~ tr/\n//cdr)
    }gse;
    return $text;
}

# The text without its `#[cfg(test)]` items (a module, an impl, a function,
# a `mod x;`); the names of the test-only child modules declared with `mod x;`.
sub without_tests {
    my ($text) = @_;
    my @test_mods;
    my $out = '';
    while ($text =~ /#\[cfg\(test\)\]/g) {
        my $start = $-[0];
        $out .= substr($text, 0, $start);
        my $rest = substr($text, $+[0]);
        # Further attributes of the same item.
        $rest =~ s/^(\s*#\[[^\]]*\])*//s;
        if ($rest =~ /^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;/s) {
            push @test_mods, $1;
            $text = substr($rest, $+[0]);
            next;
        }
        # Up to the item's first `;` or its balanced `{ … }`, whichever ends it.
        my ($depth, $i, $n) = (0, 0, length $rest);
        for (; $i < $n; $i++) {
            my $c = substr($rest, $i, 1);
            if ($c eq '{') { $depth++ }
            elsif ($c eq '}') { $depth--; if ($depth == 0) { $i++; last } }
            elsif ($c eq ';' && $depth == 0) { $i++; last }
        }
        $text = substr($rest, $i);
        pos($text) = 0;
    }
    return ($out . $text, \@test_mods);
}

# A `use` tree flattened: [alias or undef, [segments]] per leaf.
sub use_leaves {
    my ($prefix, $tree) = @_;
    my @leaves;
    $tree =~ s/\s+//g;
    # Split the top level at commas outside braces.
    my @parts; my ($depth, $cur) = (0, '');
    for my $c (split //, $tree) {
        if ($c eq ',' && $depth == 0) { push @parts, $cur; $cur = ''; next }
        $depth++ if $c eq '{'; $depth-- if $c eq '}';
        $cur .= $c;
    }
    push @parts, $cur if length $cur;
    for my $part (@parts) {
        if ($part =~ /^(.*?)::\{(.*)\}$/s || $part =~ /^()\{(.*)\}$/s) {
            my @p = (@$prefix, grep { length } split /::/, $1);
            push @leaves, use_leaves(\@p, $2);
            next;
        }
        my $alias;
        $alias = $1 if $part =~ s/as(\w+)$//;   # `x as y` (spaces removed)
        my @segs = (@$prefix, grep { length } split /::/, $part);
        if (@segs && $segs[-1] eq 'self') { pop @segs }
        if (@segs && $segs[-1] eq '*') { pop @segs; push @leaves, [undef, \@segs]; next }
        $alias //= $segs[-1];
        push @leaves, [$alias, \@segs];
    }
    return @leaves;
}

# Segments made absolute (from the crate root) as seen from `module`;
# undef for a path outside the crate.
sub absolute {
    my ($module, $segs, $aliases, $children) = @_;
    my @here = length $module ? split(/::/, $module) : ();
    my @s = @$segs;
    return undef unless @s;
    if ($s[0] eq 'crate') { shift @s; return \@s }
    if ($s[0] eq 'self') { shift @s; return [@here, @s] }
    if ($s[0] eq 'super') {
        while (@s && $s[0] eq 'super') { shift @s; return undef unless @here; pop @here }
        return [@here, @s];
    }
    if ($aliases && exists $aliases->{$s[0]}) {
        my $first = shift @s;
        return [@{ $aliases->{$first} }, @s];
    }
    if ($children && $children->{$s[0]}) { return [@here, @s] }
    return undef;
}

my (%code, %aliases, %children, %reexports, %test_only);
for my $file (sort keys %mod_of) {
    my ($text, $tests) = without_tests(read_code($file));
    my $module = $mod_of{$file};
    $test_only{$file_of{"${module}::$_"} // ''} = 1 for @$tests;
    my %kids = map { $_ => 1 } $text =~ /\bmod\s+(\w+)\s*;/g;
    $children{$file} = \%kids;
    my (%al, @uses);
    while ($text =~ /\b(pub(?:\([^)]*\))?\s+)?use\s+([^;]+);/g) {
        push @uses, [defined $1, $2];
    }
    # Aliases first (a `use` may name a module another `use` brought in).
    for my $pass (1, 2) {
        for my $u (@uses) {
            for my $leaf (use_leaves([], $u->[1])) {
                my ($alias, $segs) = @$leaf;
                my $abs = absolute($module, $segs, \%al, \%kids) or next;
                $al{$alias} = $abs if defined $alias;
                if ($pass == 2 && $u->[0] && defined $alias) {
                    $reexports{$module}{$alias} = $abs;
                }
            }
        }
    }
    $aliases{$file} = \%al;
    $code{$file} = [$text, \@uses];
}

# The file defining what an absolute path names: the longest prefix that is
# a file, through that file's re-exports (`pub use`).
sub defining_file {
    my ($abs) = @_;
    my @s = @$abs;
    for (my $hops = 0; $hops < 16; $hops++) {
        my $n = @s;
        while ($n > 0 && !exists $file_of{ join '::', @s[0 .. $n - 1] }) { $n-- }
        return undef if $n == 0;
        my $module = join '::', @s[0 .. $n - 1];
        if ($n < @s && (my $to = $reexports{$module}{ $s[$n] })) {
            @s = (@$to, @s[$n + 1 .. $#s]);
            next;
        }
        return $file_of{$module};
    }
    return undef;
}

my %edge;   # "from\tto" => the first path seen
for my $file (sort keys %code) {
    next if $test_only{$file};
    my ($text, $uses) = @{ $code{$file} };
    my $module = $mod_of{$file};
    my @paths;
    for my $u (@$uses) {
        next if $u->[0];   # a re-export is followed, not counted
        push @paths, map { [$_->[1], join("::", @{ $_->[1] })] } use_leaves([], $u->[1]);
    }
    (my $body = $text) =~ s/\b(pub(?:\([^)]*\))?\s+)?use\s+[^;]+;//g;
    while ($body =~ /(?<![\w:])((?:[A-Za-z_]\w*)(?:\s*::\s*[A-Za-z_]\w*)+)/g) {
        (my $p = $1) =~ s/\s+//g;
        push @paths, [[split /::/, $p], $p];
    }
    for my $p (@paths) {
        my $abs = absolute($module, $p->[0], $aliases{$file}, $children{$file}) or next;
        my $to = defining_file($abs) or next;
        next if $to eq $file || $test_only{$to};
        # What the folder a file is in defines (its mod.rs, or an enclosing
        # one) is the file's own module's: using it is no edge.
        next if $to =~ m{^(.*)/mod\.rs$} && index($file, "$1/") == 0;
        $edge{"$file\t$to"} //= $p->[1];
    }
}

# Strongly connected components (Tarjan); each one of more than one file
# holds a circle, printed as one loop through it.
my %out;
for (keys %edge) { my ($a, $b) = split /\t/; push @{ $out{$a} }, $b }
$_ = [sort @$_] for values %out;
my ($index, @stack, %idx, %low, %on, @sccs) = (0);
sub strong {
    my ($v) = @_;
    $idx{$v} = $low{$v} = $index++;
    push @stack, $v; $on{$v} = 1;
    for my $w (@{ $out{$v} || [] }) {
        if (!exists $idx{$w}) { strong($w); $low{$v} = $low{$w} if $low{$w} < $low{$v} }
        elsif ($on{$w}) { $low{$v} = $idx{$w} if $idx{$w} < $low{$v} }
    }
    if ($low{$v} == $idx{$v}) {
        my @c;
        while (1) { my $w = pop @stack; $on{$w} = 0; push @c, $w; last if $w eq $v }
        push @sccs, [sort @c] if @c > 1;
    }
}
for my $v (sort keys %out) { strong($v) unless exists $idx{$v} }

printf "file edges: %d among %d files\n", scalar(keys %edge), scalar(grep { !$test_only{$_} } keys %mod_of);
if (!@sccs) { print "file circles: none\n"; exit 0 }
print "file circles:\n";
for my $scc (sort { $a->[0] cmp $b->[0] } @sccs) {
    my %in = map { $_ => 1 } @$scc;
    # Breadth-first from the first file back to itself, inside the component.
    my $start = $scc->[0];
    my %prev; my @queue = ($start); my $found;
    OUTER: while (@queue) {
        my $v = shift @queue;
        for my $w (grep { $in{$_} } @{ $out{$v} || [] }) {
            if ($w eq $start) { $prev{"\0end"} = $v; $found = 1; last OUTER }
            next if exists $prev{$w};
            $prev{$w} = $v; push @queue, $w;
        }
    }
    my @loop;
    my $v = $prev{"\0end"};
    while ($v ne $start) { unshift @loop, $v; $v = $prev{$v} }
    @loop = ($start, @loop, $start);
    print "  ", join(" -> ", @loop), "\n";
    for my $i (0 .. $#loop - 1) {
        print "    $loop[$i] uses $edge{\"$loop[$i]\t$loop[$i+1]\"}\n";
    }
    print "    (", scalar(@$scc), " files in this circle's component: @$scc)\n" if @$scc > @loop - 1;
}
exit 1;
PERL
exit "$status"
