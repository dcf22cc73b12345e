package AttestProto;

# Independent reimplementations of the agent's hashing (PROTOCOL.md
# sections 2 and 3) in Perl, shared by the tests that check hashes
# without going through the C core.

use strict;
use warnings;

use Exporter 'import';
use Digest::SHA qw(sha256_hex);
use Encode qw(decode_utf8);

our @EXPORT_OK = qw(compact py_str stream_hash strip_sig);

# Python's default-separator JSON minus the space after each , and : that
# stands outside a string (PROTOCOL section 2).
sub compact {
    my ($t) = @_;
    my ($o, $in, $esc) = ('', 0, 0);
    for (my $i = 0; $i < length $t; $i++) {
        my $c = substr($t, $i, 1);
        if ($in) {
            $o .= $c;
            if ($esc) { $esc = 0 }
            elsif ($c eq '\\') { $esc = 1 }
            elsif ($c eq '"') { $in = 0 }
            next;
        }
        $in = 1 if $c eq '"';
        $o .= $c;
        $i++ if ($c eq ',' || $c eq ':') && substr($t, $i + 1, 1) eq ' ';
    }
    return $o;
}

# json.dumps(str) with ensure_ascii, for a Perl character string.
sub py_str {
    my ($s) = @_;
    my %esc = ('"' => '\\"', '\\' => '\\\\', "\n" => '\\n', "\r" => '\\r',
               "\t" => '\\t', "\x08" => '\\b', "\x0c" => '\\f');
    my $o = '"';
    for my $c (split //, $s) {
        my $u = ord $c;
        if (exists $esc{$c}) { $o .= $esc{$c} }
        elsif ($u >= 0x20 && $u <= 0x7e) { $o .= $c }
        elsif ($u > 0xffff) {
            $u -= 0x10000;
            $o .= sprintf '\\u%04x\\u%04x', 0xd800 + ($u >> 10),
                          0xdc00 + ($u & 0x3ff);
        }
        else { $o .= sprintf '\\u%04x', $u }
    }
    return $o . '"';
}

# a stream's bytes without its signature event
sub strip_sig {
    my ($b) = @_;
    $b =~ s/event: signature\r?\n[^\n]*\n\r?\n//g;
    return $b;
}

# PROTOCOL section 3 over the data lines of a stream's bytes (split on
# "\n" only, as the agent does), the signature event's own line excluded
sub stream_hash {
    my ($bytes) = @_;
    my @chunks;
    for my $line (split /\n/, strip_sig($bytes), -1) {
        next unless $line =~ /^data: / && $line !~ /^data: \[DONE\]/;
        push @chunks, py_str(decode_utf8(substr $line, 6));
    }
    return sha256_hex('{"chunks":[' . join(',', @chunks) . ']}');
}

1;
