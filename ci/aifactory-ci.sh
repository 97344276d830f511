#!/bin/sh
# The CI job of a factory repository (run from its root by ci/github-actions.yml and ci/gitlab-ci.yml):
# validate and plan every site under inventories/, writing SARIF (code scanning) and JUnit (test
# reports) into $REPORTS; with $BASE set (the merge request's base commit), write the change
# preview of every site the change touches to $REPORTS/preview.md.
# Exit 1 when a spec is invalid, a plan has errors or violated controls, or a host would move;
# every site is still checked and every report written first.
set -u

AIFACTORY=${AIFACTORY:-aifactory}
REPORTS=${REPORTS:-reports}
BASE=${BASE:-}
mkdir -p "$REPORTS"
status=0

for site in inventories/*/; do
    site=${site%/}
    name=${site##*/}
    [ -f "$site/factory.yaml" ] || continue
    echo "== $name"
    "$AIFACTORY" validate "$site" --format sarif >"$REPORTS/validate-$name.sarif" || status=1
    "$AIFACTORY" validate "$site" --format junit >"$REPORTS/validate-$name.junit.xml" || status=1
    "$AIFACTORY" plan "$site" --program infra \
        --sarif "$REPORTS/plan-$name.sarif" --junit "$REPORTS/plan-$name.junit.xml" || status=1
done

if [ -n "$BASE" ]; then
    : >"$REPORTS/preview.md"
    for site in inventories/*/; do
        site=${site%/}
        [ -f "$site/factory.yaml" ] || continue
        if git diff --quiet "$BASE" -- "$site" "Pulumi.${site##*/}.yaml" Pulumi.yaml infra policies aifactory; then
            continue  # neither the site, its stack file, the program nor the controls changed
        fi
        if ! git cat-file -e "$BASE:$site/factory.yaml" 2>/dev/null; then
            printf '### aifactory diff: %s\n\nA new site.\n\n' "${site##*/}" >>"$REPORTS/preview.md"
            continue
        fi
        "$AIFACTORY" diff "$site" --against "$BASE" --program infra >>"$REPORTS/preview.md" || status=1
        echo >>"$REPORTS/preview.md"
    done
    cat "$REPORTS/preview.md"
fi

exit $status
