#!/bin/bash
# perl.sh -- perl hash and regex work on generated text: the same output
# under LD_PRELOAD.  Hash order is not printed; sorted results and counts are.
. "${top_srcdir:?the harness exports top_srcdir}/tests/preload/common.sh"

perl_scenario() {
    PERL_HASH_SEED=0 perl -e '
        my %count; my @lines;
        for my $i (1 .. 150000) {
            my $line = sprintf("user%05d %s item-%d=%x", $i % 9973, ("alpha","beta","gamma")[$i % 3], $i, $i * 31);
            push @lines, $line;
            $count{$1}++ while $line =~ /(\w+)-\d+/g;
            $count{"u$1"}++ if $line =~ /^user(\d\d)/;
        }
        my @hits = grep { /gamma item-\d*7=/ } @lines;
        (my $joined = join(",", @hits[0..99])) =~ s/item-(\d+)/I$1/g;
        printf "%d keys, %d hits, %d chars\n", scalar(keys %count), scalar(@hits), length($joined);
        print "$_ $count{$_}\n" for (sort keys %count)[0..20];
    '
}
preload_test perl perl perl_scenario
